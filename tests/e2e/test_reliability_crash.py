"""Crash recovery: `docker kill` (SIGKILL) of the DinD container while nested containers run
and an image is being loaded, several times in a row; every restart comes up and the
nested daemon answers.

The DinD container here shares /run through a volume, as a sidecar sharing the socket
does (`-v sock:/var/run`): then the stale pid files and sockets of the killed daemon
survive the crash (without it /run is a fresh tmpfs at each start). One cycle also
plants zero-byte JSON files (/etc/docker/daemon.json, the image store's
repositories.json), as a write cut short by the kill leaves them.
"""

import io
import os
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.testing.engine import BUSYBOX_TAG, Dind, busybox_rootfs_tar, dind, docker, unique
from tests.testing.procs import sleep_until
from tests.testing.reliability import SERVICE_SCRIPT, container_state, volume_path

NESTED = "dfs-test-busybox:latest"
# The 10 cycles: one costs ~5 s here (kill, start, the nested daemon answers in
# 2-4 s, checks), all ten ~50 s, so the default run does them all.
CYCLES = 10
BULKY_BYTES = 48 << 20  # a layer that takes a moment to load, so the kill lands mid-load


@pytest.fixture(scope="module")
def bulky_tar(busybox: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`docker save` of an image with a 48 MiB random layer (built locally, no registry)."""
    buffer = io.BytesIO(busybox_rootfs_tar())
    with tarfile.open(fileobj=buffer, mode="a") as tar:
        info = tarfile.TarInfo("blob")
        info.size = BULKY_BYTES
        tar.addfile(info, io.BytesIO(os.urandom(BULKY_BYTES)))
    tag = f"{unique('dfs-test-bulky')}:latest"
    imported = buffer.getvalue()
    subprocess.run(["docker", "import", "-", tag], input=imported, capture_output=True, check=True, timeout=300)
    path = tmp_path_factory.mktemp("bulky") / "bulky.tar"
    try:
        docker("save", "-o", os.fspath(path), tag)
    finally:
        docker("rmi", tag, check=False)
    yield path


def start_load(daemon: Dind, tar: Path) -> subprocess.Popen[bytes]:
    """`docker load` inside, fed from the host, left running."""
    with open(tar, "rb") as handle:
        return subprocess.Popen(["docker", "exec", "-i", daemon.name, "docker", "load"], stdin=handle,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def plant_zero_byte_json(daemon: Dind, tmp: Path) -> None:
    """Zero-byte daemon.json in the container and repositories.json in the data root."""
    (tmp / "docker").mkdir(exist_ok=True)
    (tmp / "docker" / "daemon.json").write_bytes(b"")
    docker("cp", os.fspath(tmp / "docker"), f"{daemon.name}:/etc/")
    repositories = volume_path(daemon.volume) / "image" / "overlay2" / "repositories.json"
    assert repositories.exists(), repositories
    repositories.write_bytes(b"")


def running(daemon: Dind, name: str) -> bool:
    result = daemon.exec("docker", "inspect", "-f", "{{.State.Running}}", name, check=False)
    return result.stdout.strip() == "true"


def test_crash_kill_during_load_restarts_every_time(
    image: str, busybox_tar: Path, bulky_tar: Path, tmp_path: Path
) -> None:
    """After each SIGKILL mid-load (stale pid files, sockets, zero-byte JSON) the DinD container should come back."""
    run_volume = unique("dfs-test-run")
    try:
        with dind(image, run_options=["-v", f"{run_volume}:/run"]) as daemon:
            daemon.load_image(busybox_tar)
            daemon.exec("docker", "run", "-d", "--name", "always", "--restart", "always", NESTED, "sh", "-c",
                        SERVICE_SCRIPT)  # fmt: skip
            daemon.exec("docker", "run", "-d", "--name", "plain", NESTED, "sleep", "100000")
            run_dir = volume_path(run_volume)
            for cycle in range(CYCLES):
                load = start_load(daemon, bulky_tar)
                time.sleep(0.2 + 0.2 * (cycle % 3))  # a full load takes ~1 s: the kill lands at different points
                docker("kill", daemon.name)
                load.wait(timeout=60)
                assert container_state(daemon.name)["ExitCode"] == 137
                # What the crash left behind in the shared /run: the daemon's pid files and sockets.
                leftovers = sorted(p.name for p in run_dir.iterdir() if p.name.startswith("docker"))
                assert "docker.pid" in leftovers and "docker.sock" in leftovers, leftovers
                zeroed = cycle == 1
                if zeroed:
                    plant_zero_byte_json(daemon, tmp_path)
                started = time.monotonic()
                docker("start", daemon.name)
                daemon.wait_ready()
                print(f"cycle {cycle + 1}/{CYCLES}: answering {time.monotonic() - started:.1f} s after start"
                      f"{' (zero-byte JSON planted)' if zeroed else ''}")  # fmt: skip
                if zeroed:  # the launcher removed both; the tags went with repositories.json
                    assert daemon.logs().count("an empty JSON file makes dockerd fail") == 2, daemon.logs()[-3000:]
                    daemon.load_image(busybox_tar)
                assert sleep_until(lambda: running(daemon, "always"), timeout=30), daemon.logs()[-3000:]
                result = daemon.exec("docker", "run", "--rm", NESTED, "echo", f"cycle {cycle}")
                assert result.stdout.strip() == f"cycle {cycle}"
            # The interrupted loads left nothing that stops a complete one.
            started = time.monotonic()
            result = subprocess.run(["docker", "exec", "-i", daemon.name, "docker", "load"], stdin=bulky_tar.open("rb"),
                                    capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
            assert result.returncode == 0, result.stderr
            print(f"a complete load of the bulky image takes {time.monotonic() - started:.1f} s")
            tag = result.stdout.split("Loaded image: ")[-1].strip()
            size = daemon.exec("docker", "run", "--rm", tag, "ls", "-l", "/blob").stdout.split()[4]
            assert int(size) == BULKY_BYTES
    finally:
        docker("volume", "rm", "-f", run_volume, check=False)


def test_crash_busybox_tag_survives_a_kill(image: str, busybox_tar: Path) -> None:
    """After SIGKILL and start (no planted fault), the nested images and their tags should all be there."""
    with dind(image) as daemon:
        daemon.load_image(busybox_tar)
        before = daemon.exec("docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").stdout
        docker("kill", daemon.name)
        docker("start", daemon.name)
        daemon.wait_ready()
        after = daemon.exec("docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").stdout
        assert after == before
        assert BUSYBOX_TAG in after
