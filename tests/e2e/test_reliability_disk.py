"""Disk pressure: the nested data root on a small tmpfs that fills up. Nested operations fail
with docker's own "no space left on device", the daemon stays up, and freeing space
recovers without a restart.

overlay2 works on tmpfs, so the nested daemon keeps its usual driver; the data root is
the tmpfs at /data (--data-root), the DinD helper's volume on /var/lib/docker stays idle.
"""

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.testing.engine import Dind, dind, docker
from tests.testing.reliability import container_pid, container_state

NESTED = "dfs-test-busybox:latest"
DATA_ROOT = "/data"
SIZE = "64m"
NO_SPACE = "no space left on device"


class FillableDaemon:
    """A DinD daemon whose data root can be filled to the last byte and freed again."""

    def __init__(self, daemon: Dind) -> None:
        self.daemon = daemon
        self.pid = container_pid(daemon.name)

    def fill(self) -> None:
        """A nested volume written with zeros until the data root's file system is full."""
        if self.daemon.exec("docker", "volume", "inspect", "fill", check=False).returncode == 0:
            return
        result = self.daemon.exec("docker", "run", "--name", "filler", "-v", "fill:/d", NESTED, "sh", "-c",
                                  "cat /dev/zero > /d/zero", check=False)  # fmt: skip
        assert result.returncode != 0 and NO_SPACE in result.stderr.lower(), result.stderr

    def free(self) -> None:
        self.daemon.exec("docker", "rm", "-f", "filler")
        self.daemon.exec("docker", "volume", "rm", "fill")


def small_image_tar() -> bytes:
    """A root file system tar with one 256 KiB file, for `docker import`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("payload")
        info.size = 256 * 1024
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def fillable(image: str, busybox_tar: Path) -> Iterator[FillableDaemon]:
    with dind(image, "--data-root", DATA_ROOT,
              run_options=["--mount", f"type=tmpfs,destination={DATA_ROOT},tmpfs-size={SIZE}"]) as daemon:  # fmt: skip
        daemon.load_image(busybox_tar)
        assert daemon.exec("docker", "info", "--format", "{{.Driver}}").stdout.strip() == "overlay2"
        yield FillableDaemon(daemon)


def test_disk_full_nested_run_fails_with_docker_error(fillable: FillableDaemon) -> None:
    """On a full data root a nested `docker run` should fail with docker's 'no space left on device'."""
    fillable.fill()
    result = fillable.daemon.exec("docker", "run", "--rm", NESTED, "true", check=False)
    assert result.returncode != 0
    assert NO_SPACE in result.stderr.lower(), result.stderr


def test_disk_full_nested_import_fails_with_docker_error(fillable: FillableDaemon) -> None:
    """On a full data root a nested `docker import` should fail with docker's 'no space left on device'."""
    fillable.fill()
    result = fillable.daemon.exec("docker", "import", "-", "dfs-small:latest", input=small_image_tar(), check=False)
    assert result.returncode != 0
    assert NO_SPACE in result.stderr.lower(), result.stderr


def test_disk_full_daemon_stays_up(fillable: FillableDaemon) -> None:
    """On a full data root the nested daemon should keep answering, as the same process tree."""
    fillable.fill()
    fillable.daemon.exec("docker", "run", "--rm", NESTED, "true", check=False)
    assert fillable.daemon.exec("docker", "version", check=False).returncode == 0
    assert "filler" in fillable.daemon.exec("docker", "ps", "-a", "--format", "{{.Names}}").stdout
    assert container_state(fillable.daemon.name)["Running"] is True
    assert container_pid(fillable.daemon.name) == fillable.pid


def test_disk_full_freeing_space_recovers(fillable: FillableDaemon) -> None:
    """After removing what filled the data root, nested runs and imports should work again without a restart."""
    fillable.fill()
    fillable.free()
    result = fillable.daemon.exec("docker", "run", "--rm", NESTED, "echo", "recovered")
    assert result.stdout.strip() == "recovered"
    fillable.daemon.exec("docker", "import", "-", "dfs-small:latest", input=small_image_tar())
    assert container_pid(fillable.daemon.name) == fillable.pid
    docker("inspect", fillable.daemon.name)  # still there, never restarted
