"""The launcher's HTTP/1.0 client (launcher/api.py) against a real dockerd: the host engine."""

import json
import os
from pathlib import Path

import pytest

from docker_from_scratch.launcher import api
from tests.testing.engine import docker, ensure_busybox_image, image_exists, unique

pytestmark = pytest.mark.integration

HOST_SOCKET = "/var/run/docker.sock"


def test_api_ping_answers_on_the_host_engine(engine: None) -> None:
    """api.ping through api.request should see the host engine's dockerd answer 200."""
    assert api.ping(HOST_SOCKET, timeout=10) is True


def test_api_get_returns_the_whole_json_body(engine: None) -> None:
    """GET /version should give status 200 and a body that parses as dockerd's JSON."""
    status, body = api.request("GET", "/version", socket_path=HOST_SOCKET, timeout=10)
    assert status == 200
    assert "ApiVersion" in json.loads(body)


def test_api_error_status_is_returned_not_raised(engine: None) -> None:
    """A 404 from dockerd should come back as the status with dockerd's message."""
    status, body = api.request("GET", "/containers/dfs-no-such-container/json", socket_path=HOST_SOCKET)
    assert status == 404
    assert b"No such container" in body


def test_api_post_uploads_a_file_body(engine: None, tmp_path: Path) -> None:
    """POST /images/load with an open file should load that image into the engine."""
    tag = f"{unique('dfs-test-api')}:latest"
    docker("tag", ensure_busybox_image(), tag)
    archive = tmp_path / "image.tar"
    docker("save", "-o", os.fspath(archive), tag)
    docker("rmi", tag)
    try:
        with archive.open("rb") as upload:
            status, body = api.request("POST", "/images/load?quiet=1", body=upload, socket_path=HOST_SOCKET, timeout=60)
        assert status == 200, body
        assert image_exists(tag)
    finally:
        docker("rmi", tag, check=False)
