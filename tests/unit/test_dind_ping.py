"""The health probe: only a 200 answer to GET /_ping on the unix socket counts as ready.

The ready case is tested against real daemons (tests/e2e/test_dind_ci.py: the host
engine's socket and the nested daemon in our image); these are the ways it is not ready.
"""

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from docker_from_scratch.launcher import api
from docker_from_scratch.launcher.api import ping, wait_until_answers


@contextmanager
def unix_listener(path: Path, reply: bytes | None) -> Iterator[list[bytes]]:
    """A unix socket that reads one request and sends ``reply`` (None: never answers)."""
    requests: list[bytes] = []
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)
    listener.settimeout(10)
    done = threading.Event()

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            requests.append(conn.recv(4096))
            if reply is not None:
                conn.sendall(reply)
            else:
                done.wait(10)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield requests
    finally:
        done.set()
        thread.join(timeout=10)
        listener.close()


def test_ping_missing_socket_is_not_ready(tmp_path: Path) -> None:
    """No socket file should mean not ready, without an exception."""
    assert ping(str(tmp_path / "docker.sock"), timeout=1) is False


def test_ping_silent_daemon_times_out(tmp_path: Path) -> None:
    """A socket that accepts but never answers should give False once the timeout passes."""
    path = tmp_path / "docker.sock"
    with unix_listener(path, reply=None) as requests:
        assert ping(str(path), timeout=0.3) is False
    assert requests and requests[0].startswith(b"GET /_ping HTTP/1.0\r\n")


def test_ping_error_status_is_not_ready(tmp_path: Path) -> None:
    """An HTTP error (a daemon still starting behind a proxy) should not count as ready."""
    path = tmp_path / "docker.sock"
    reply = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    with unix_listener(path, reply=reply):
        assert ping(str(path), timeout=2) is False


def test_ping_closed_without_answer_is_not_ready(tmp_path: Path) -> None:
    """A peer that closes without a status line should give False."""
    path = tmp_path / "docker.sock"
    with unix_listener(path, reply=b""):
        assert ping(str(path), timeout=2) is False


def test_wait_until_answers_gives_up(tmp_path: Path) -> None:
    """Waiting on a socket nobody serves should end with False after the timeout."""
    assert wait_until_answers(str(tmp_path / "docker.sock"), timeout=0.3, interval=0.05) is False


def test_api_request_not_http_answer_is_an_oserror(tmp_path: Path) -> None:
    """An answer that is not HTTP should raise OSError naming the request, not return a status."""
    path = tmp_path / "docker.sock"
    not_http = pytest.raises(OSError, match="GET /_ping: the answer is not HTTP")
    with unix_listener(path, reply=b"SSH-2.0-OpenSSH\r\n"), not_http:
        api.request("GET", "/_ping", socket_path=str(path), timeout=2)
