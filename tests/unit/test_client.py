"""docker-entrypoint.sh's decision: which daemon a job container's docker talks to."""

import os
import socket
from pathlib import Path

import pytest

from docker_from_scratch.launcher.client import client_certificates, client_environment, command, is_socket
from docker_from_scratch.launcher.errors import UsageError


def make_client_certs(certdir: Path, *, empty: str = "") -> None:
    (certdir / "client").mkdir(parents=True)
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (certdir / "client" / name).write_text("" if name == empty else "PEM\n")


def test_client_environment_prefers_the_socket_when_no_host_is_set() -> None:
    """An unset DOCKER_HOST and a socket at /var/run/docker.sock should give unix://, no TLS."""
    env = client_environment({}, socket=True, certificates="/certs/client")
    assert env == {"DOCKER_HOST": "unix:///var/run/docker.sock"}


def test_client_environment_uses_tls_on_2376_when_the_client_certificates_exist() -> None:
    """No socket and client certificates should give tcp://docker:2376 with the TLS variables."""
    env = client_environment({"DOCKER_TLS_CERTDIR": "/certs"}, socket=False, certificates="/certs/client")
    assert env["DOCKER_HOST"] == "tcp://docker:2376"
    assert env["DOCKER_TLS_VERIFY"] == "1" and env["DOCKER_CERT_PATH"] == "/certs/client"


def test_client_environment_falls_back_to_plain_2375() -> None:
    """No socket and no certificates should give tcp://docker:2375 without TLS variables."""
    env = client_environment({"DOCKER_TLS_CERTDIR": "/certs"}, socket=False, certificates=None)
    assert env["DOCKER_HOST"] == "tcp://docker:2375"
    assert "DOCKER_TLS_VERIFY" not in env and "DOCKER_CERT_PATH" not in env


def test_client_environment_keeps_the_users_host_and_tls_choice() -> None:
    """A user's tcp DOCKER_HOST should stay, get TLS variables only when none were given."""
    mine = {"DOCKER_HOST": "tcp://dind:2376"}
    assert client_environment(mine, socket=True, certificates="/c")["DOCKER_CERT_PATH"] == "/c"
    chosen = {"DOCKER_HOST": "tcp://dind:2376", "DOCKER_CERT_PATH": "/mine"}
    assert client_environment(chosen, socket=False, certificates="/c") == chosen
    unix = {"DOCKER_HOST": "unix:///run/x.sock"}
    assert client_environment(unix, socket=False, certificates="/c") == unix


def test_client_certificates_need_all_three_non_empty_files(tmp_path: Path) -> None:
    """client/ca.pem, cert.pem and key.pem should all be there and non-empty, under DOCKER_TLS_CERTDIR."""
    make_client_certs(tmp_path / "full")
    make_client_certs(tmp_path / "broken", empty="key.pem")
    assert client_certificates({"DOCKER_TLS_CERTDIR": os.fspath(tmp_path / "full")}) == os.fspath(
        tmp_path / "full" / "client"
    )
    assert client_certificates({"DOCKER_TLS_CERTDIR": os.fspath(tmp_path / "broken")}) is None
    assert client_certificates({"DOCKER_TLS_CERTDIR": os.fspath(tmp_path / "none")}) is None
    assert client_certificates({"DOCKER_TLS_CERTDIR": ""}) is None


def test_is_socket_tells_a_socket_from_a_file(tmp_path: Path) -> None:
    """A bound unix socket should count, a regular file or nothing should not."""
    path = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(os.fspath(path))
        assert is_socket(os.fspath(path))
    (tmp_path / "file").write_text("")
    assert not is_socket(os.fspath(tmp_path / "file")) and not is_socket(os.fspath(tmp_path / "missing"))


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--version"], ["docker", "--version"]),
        (["docker", "ps"], ["docker", "ps"]),
        (["/bin/sh", "-c", "x"], ["/bin/sh", "-c", "x"]),
        (["dockerd", "--debug"], ["/usr/bin/dockerlaunch", "/usr/bin/dockerd", "--debug"]),
    ],
    ids=["option", "docker", "path", "dockerd"],
)
def test_command_runs_options_through_docker(argv: list[str], expected: list[str]) -> None:
    """Options should run through docker, dockerd through the launcher, paths as given."""
    assert command(argv, {"PATH": "/nonexistent"}) == expected


def test_command_without_arguments_is_a_usage_error() -> None:
    """No command should be a one-line usage error (exit 2)."""
    with pytest.raises(UsageError) as error:
        command([], {})
    assert error.value.exit_status == 2 and "docker-entrypoint.sh docker ps" in error.value.one_line()
