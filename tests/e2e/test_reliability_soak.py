"""Soak: many nested `docker run --rm` in a row leave nothing behind: no zombie, no growth
of PID 1's descriptors or memory, no leftover mount or veth device in the DinD container.

DFS_SOAK=1 runs the issue's 200 runs; the default run does 100 (measured: 0.5 s each
here, so 200 take about 100 s on their own, 100 keep the suite lean).
"""

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.testing.engine import Dind, dind
from tests.testing.procs import sleep_until
from tests.testing.reliability import (
    container_pid,
    fd_count,
    mount_points,
    net_devices,
    status_kib,
    zombies_in_namespace,
)

NESTED = "dfs-test-busybox:latest"
RUNS = 200 if os.environ.get("DFS_SOAK") else 100
WARM_UP = 5  # the first runs create the bridge, load modules and fill caches
# docker-init (tini) as PID 1 allocates nothing per child; a few pages of slack for the
# kernel's accounting of the stack and of page-table pages.
PID1_RSS_SLACK_KIB = 256


class Sample:
    """What PID 1 holds and what the container's namespaces contain, at one moment."""

    def __init__(self, pid: int) -> None:
        self.fds = fd_count(pid)
        self.rss_kib = status_kib(pid, "VmRSS")
        self.mounts = sorted(mount_points(pid))
        self.devices = sorted(net_devices(pid))
        self.zombies = zombies_in_namespace(pid)

    def __repr__(self) -> str:
        return f"fds={self.fds} rss={self.rss_kib} KiB mounts={len(self.mounts)} devices={self.devices}"


@pytest.fixture(scope="module")
def soaked(image: str, busybox_tar: Path) -> Iterator[tuple[Dind, Sample, Sample]]:
    """A DinD daemon (default reap mode: docker-init is PID 1) sampled after a warm-up and
    again after RUNS nested `docker run --rm` in a row."""
    with dind(image) as daemon:
        daemon.load_image(busybox_tar)
        pid = container_pid(daemon.name)
        with open(f"/proc/{pid}/comm") as handle:
            assert handle.read().strip() in ("docker-init", "tini-static", "tini"), "PID 1 should be docker-init"
        for _ in range(WARM_UP):
            daemon.exec("docker", "run", "--rm", NESTED, "true")
        before = Sample(pid)
        started = time.monotonic()
        for _ in range(RUNS):
            daemon.exec("docker", "run", "--rm", NESTED, "true")
        took = time.monotonic() - started
        assert container_pid(daemon.name) == pid, "the DinD container restarted during the runs"
        print(f"{RUNS} nested runs in {took:.1f} s ({took / RUNS:.2f} s each); before: {before}")

        # `docker run --rm` returns once the container is gone; its veth, its mounts and
        # the last exited processes go within moments. What stays is a leak.
        def settled() -> bool:
            now = Sample(pid)
            return now.devices == before.devices and now.mounts == before.mounts and not now.zombies

        sleep_until(settled, timeout=10)
        after = Sample(pid)
        print(f"after: {after}")
        yield daemon, before, after


def test_soak_leaves_no_zombie(soaked: tuple[Dind, Sample, Sample]) -> None:
    """After the runs no process in the DinD container's PID namespace should be a zombie."""
    _, _, after = soaked
    assert after.zombies == []


def test_soak_pid1_keeps_its_descriptors(soaked: tuple[Dind, Sample, Sample]) -> None:
    """PID 1 should hold as many open descriptors after the runs as before."""
    _, before, after = soaked
    assert after.fds == before.fds


def test_soak_pid1_memory_stays_flat(soaked: tuple[Dind, Sample, Sample]) -> None:
    """PID 1's resident memory should not grow with the number of runs (a few pages at most)."""
    _, before, after = soaked
    assert after.rss_kib - before.rss_kib <= PID1_RSS_SLACK_KIB, (before, after)


def test_soak_leaves_no_mount(soaked: tuple[Dind, Sample, Sample]) -> None:
    """The DinD container's mount table should be the same after the runs as before."""
    _, before, after = soaked
    assert after.mounts == before.mounts


def test_soak_leaves_no_veth(soaked: tuple[Dind, Sample, Sample]) -> None:
    """The DinD container's network devices should be the same after the runs as before (no veth left)."""
    _, before, after = soaked
    assert after.devices == before.devices
    assert not [device for device in after.devices if device.startswith("veth")]
