"""A few requests to dockerd's own API on its unix socket (standard library only).

Used where the launcher talks to the dockerd it started: the image's health check and
readiness (``ping``, ``wait_until_answers``, ``health_status``), the bare kernel's boot
runner (image loading) and the stop grace (stopping nested containers on time).
HTTP/1.0 on a plain socket, not ``http.client``: with HTTP/1.0 dockerd (Go's net/http)
answers with the whole body and closes, never chunked, so reading to the end is the
whole protocol; and http.client brings email, urllib, datetime and base64 into the
image (about 0.5 MB of its Python zip). ``json`` is imported where a body is parsed.
"""

from __future__ import annotations

import os
import time

from docker_from_scratch.requirements.layout import DOCKER_SOCKET

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import BinaryIO


def request(
    method: str,
    path: str,
    *,
    body: bytes | BinaryIO | None = None,
    socket_path: str = DOCKER_SOCKET,
    timeout: float = 5.0,
) -> tuple[int, bytes]:
    """One HTTP request to dockerd: (status, body); ``body`` is bytes or an open file.

    ``timeout`` bounds the whole exchange. Raises OSError (TimeoutError included)
    when nothing answers in time or the answer is not HTTP.
    """
    import socket

    deadline = time.monotonic() + timeout
    if isinstance(body, bytes):
        length, payload, upload = len(body), body, None
    elif body is not None:
        length, payload, upload = os.fstat(body.fileno()).st_size, b"", body
    else:
        length, payload, upload = 0, b"", None
    head = f"{method} {path} HTTP/1.0\r\nHost: docker\r\nContent-Length: {length}\r\n\r\n"
    answer = bytearray()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(socket_path)
        sock.sendall(head.encode() + payload)
        if upload is not None:
            sock.sendfile(upload)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{method} {path}: no complete answer in {timeout:g} s")
            sock.settimeout(remaining)
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    header, found, content = bytes(answer).partition(b"\r\n\r\n")
    status = header.split(b"\r\n", 1)[0].split()
    if not found or len(status) < 2 or not status[0].startswith(b"HTTP/1.") or not status[1].isdigit():
        raise OSError(f"{method} {path}: the answer is not HTTP: {bytes(answer[:60])!r}")
    return int(status[1]), content


def running_containers(socket_path: str = DOCKER_SOCKET, timeout: float = 5.0) -> list[str]:
    """IDs of the running containers (GET /containers/json)."""
    import json

    status, body = request("GET", "/containers/json", socket_path=socket_path, timeout=timeout)
    if status != 200:
        raise OSError(f"GET /containers/json answered {status}")
    return [str(entry["Id"]) for entry in json.loads(body)]


def ping(socket_path: str, timeout: float = 2.0) -> bool:
    """True when dockerd answers ``GET /_ping`` with 200 OK on its unix socket."""
    try:
        status, _ = request("GET", "/_ping", socket_path=socket_path, timeout=timeout)
    except OSError:  # TimeoutError is an OSError: no answer in time means not ready
        return False
    return status == 200


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
