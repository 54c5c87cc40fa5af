"""A few requests to dockerd's own API on its unix socket (standard library only).

Used where the launcher talks to the dockerd it started: the image's health check and
readiness (``ping``, ``wait_until_answers``, ``health_status``), the bare kernel's boot
runner (image loading) and the stop grace (stopping nested containers on time).
``http.client`` and ``json`` are imported on first use: a plain start and the health
check never need them.
"""

from __future__ import annotations

import time

from docker_from_scratch.requirements.layout import DOCKER_SOCKET

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping


def request(
    method: str, path: str, *, body: object = None, socket_path: str = DOCKER_SOCKET, timeout: float = 5.0
) -> tuple[int, bytes]:
    """One HTTP request to dockerd: (status, body). Raises OSError when nothing answers."""
    import http.client
    import socket

    class UnixConnection(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(socket_path)

    connection = UnixConnection("docker", timeout=timeout)
    try:
        connection.request(method, path, body=body)  # type: ignore[arg-type]
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def running_containers(socket_path: str = DOCKER_SOCKET, timeout: float = 5.0) -> list[str]:
    """IDs of the running containers (GET /containers/json)."""
    import json

    status, body = request("GET", "/containers/json", socket_path=socket_path, timeout=timeout)
    if status != 200:
        raise OSError(f"GET /containers/json answered {status}")
    return [str(entry["Id"]) for entry in json.loads(body)]


def ping(socket_path: str, timeout: float = 2.0) -> bool:
    """True when dockerd answers ``GET /_ping`` with 200 OK on its unix socket.

    Standard library only (no docker CLI, no HTTP client): the health check runs in
    the image, where importing http.client would cost more than the request itself.
    """
    import socket

    deadline = time.monotonic() + timeout
    request = b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n"
    response = b""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(socket_path)
            sock.sendall(request)
            while len(response) < 65536:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                sock.settimeout(remaining)
                chunk = sock.recv(4096)
                if not chunk:
                    break
                response += chunk
    except OSError:  # socket.timeout is an OSError: no answer in time means not ready
        return False
    status = response.split(b"\r\n", 1)[0].split()
    return len(status) >= 2 and status[0].startswith(b"HTTP/1.") and status[1] == b"200"


def wait_until_answers(socket_path: str, timeout: float, interval: float = 0.1) -> bool:
    """Poll ``ping`` until dockerd answers or ``timeout`` seconds pass; True if it did."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if ping(socket_path, timeout=max(0.05, min(2.0, remaining))):
            return True
        if time.monotonic() + interval > deadline:
            return False
        time.sleep(interval)


def health_status(env: Mapping[str, str], timeout: float = 5.0) -> int:
    """Exit status for the image's HEALTHCHECK: 0 when dockerd answers on its socket.

    The socket is the default host's (DOCKER_HOST when it is unix://, else
    /var/run/docker.sock): the health check runs with the container's environment,
    so it finds the socket ``plan`` chose. 1 otherwise, as Docker expects.
    """
    from docker_from_scratch.launcher.dind import unix_socket
    from docker_from_scratch.launcher.errors import UsageError

    try:
        path = unix_socket(env)
    except UsageError:
        return 1
    return 0 if ping(path, timeout=timeout) else 1
