"""`dockerlaunch --health`: the image's HEALTHCHECK, against a real unix socket."""

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def health(socket_path: Path) -> int:
    env = {**os.environ, "DOCKER_HOST": f"unix://{socket_path}"}
    command = "from docker_from_scratch.launcher.cli import main; main(['--health'])"
    return subprocess.run([sys.executable, "-c", command], env=env, timeout=30, check=False).returncode


def test_health_fails_when_nothing_listens(tmp_path: Path) -> None:
    """With no daemon on the socket, --health should exit 1."""
    assert health(tmp_path / "docker.sock") == 1


def test_health_passes_when_ping_answers_ok(tmp_path: Path) -> None:
    """A server answering GET /_ping with 200 should make --health exit 0."""
    path = tmp_path / "docker.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(os.fspath(path))
    server.listen(1)

    def answer() -> None:
        connection, _ = server.accept()
        with connection:
            connection.recv(4096)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        assert health(path) == 0
    finally:
        thread.join(timeout=10)
        server.close()
