"""A few requests to dockerd's own API on its unix socket (standard library only).

Used where the launcher talks to the dockerd it started: the bare kernel's boot runner
(ready check, image loading) and the stop grace (stopping nested containers on time).
``http.client`` is imported on first use: a plain start never talks to the API.
"""

from __future__ import annotations

import json

from docker_from_scratch.launcher.dind import DEFAULT_SOCKET


def request(
    method: str, path: str, *, body: object = None, socket_path: str = DEFAULT_SOCKET, timeout: float = 5.0
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


def running_containers(socket_path: str = DEFAULT_SOCKET, timeout: float = 5.0) -> list[str]:
    """IDs of the running containers (GET /containers/json)."""
    status, body = request("GET", "/containers/json", socket_path=socket_path, timeout=timeout)
    if status != 200:
        raise OSError(f"GET /containers/json answered {status}")
    return [str(entry["Id"]) for entry in json.loads(body)]
