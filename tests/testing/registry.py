"""A real registry for the push tests: Debian's docker-registry in a host-engine container.

No pull: the image is made here from the package's binary (/usr/bin/docker-registry, the
CNCF distribution registry 2.8, linked against libc only) plus its shared libraries and a
config without an auth section, imported with ``docker import``. The registry listens on
:5000 in its container; the host reaches it on a loopback port docker publishes
(127.0.0.1 registries are plain HTTP for the host engine without any setting), other
containers on the bridge reach it at the container's address.
"""

import io
import os
import re
import subprocess
import tarfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.testing.engine import docker, image_exists, unique

REGISTRY_BINARY = Path("/usr/bin/docker-registry")
REGISTRY_TAG = "dfs-test-registry:latest"
# No auth section: anyone may push (the registry only listens inside this machine).
CONFIG = b"""version: 0.1
storage:
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: true
http:
  addr: :5000
"""


def _libraries(binary: Path) -> list[Path]:
    """The binary's shared libraries and loader, from the host's ldd (a host binary)."""
    output = subprocess.run(["ldd", os.fspath(binary)], capture_output=True, text=True, check=True).stdout
    return [Path(p) for p in re.findall(r"(/\S+) \(0x", output)]


def registry_rootfs_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(REGISTRY_BINARY, arcname="usr/bin/docker-registry")
        for library in _libraries(REGISTRY_BINARY):
            tar.add(library.resolve(), arcname=os.fspath(library).lstrip("/"))
        for directory in ("tmp", "var/lib/registry"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777
            tar.addfile(info)
        info = tarfile.TarInfo("etc/docker/registry/config.yml")
        info.size = len(CONFIG)
        tar.addfile(info, io.BytesIO(CONFIG))
    return buffer.getvalue()


def ensure_registry_image(tag: str = REGISTRY_TAG) -> str:
    if not image_exists(tag):
        subprocess.run(
            ["docker", "import", "--change", 'ENTRYPOINT ["/usr/bin/docker-registry", "serve", '
             '"/etc/docker/registry/config.yml"]', "-", tag],
            input=registry_rootfs_tar(), capture_output=True, check=True, timeout=120,
        )  # fmt: skip
    return tag


@dataclass(frozen=True)
class Registry:
    name: str
    host_address: str  # 127.0.0.1:PORT, for the host's tools
    bridge_address: str  # IP:5000 on the host engine's bridge, for other containers


@contextmanager
def running_registry() -> Iterator[Registry]:
    """Start a registry container (loopback port on the host), wait until /v2/ answers, remove it."""
    name = unique("dfs-test-registry")
    docker("run", "-d", "--name", name, "-p", "127.0.0.1::5000", ensure_registry_image())
    try:
        port = docker("port", name, "5000/tcp").stdout.strip().splitlines()[0].rpartition(":")[2]
        ip = docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", name).stdout.strip()
        registry = Registry(name, f"127.0.0.1:{port}", f"{ip}:5000")
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://{registry.host_address}/v2/", timeout=2):
                    break
            except OSError as exc:
                if time.monotonic() > deadline:
                    log = docker("logs", name, check=False).stderr
                    raise AssertionError(f"the registry did not answer: {log}") from exc
                time.sleep(0.2)
        yield registry
    finally:
        docker("rm", "-f", "-v", name, check=False)
