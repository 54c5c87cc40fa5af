"""Load: several DinD containers at once, each running nested `docker run --rm`s and one
nested build, all in parallel; what each left behind, and its peak memory.

Used by the quick CI test (tests/e2e/test_load.py) and by the bench's full form
(bench/fig_load.py: ten DinD containers, twenty runs each).
"""

from __future__ import annotations

import subprocess
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from tests.testing.engine import Dind, dind
from tests.testing.procs import sleep_until
from tests.testing.reliability import container_pid, mount_points, net_devices, zombies_in_namespace

NESTED = "dfs-test-busybox:latest"
# dash inside the image: RUNS background `docker run --rm`, one line per outcome.
RUNS_SCRIPT = (
    'i=0; while [ "$i" -lt "$1" ]; do '
    '(docker run --rm {image} true >/dev/null 2>&1 && echo "ok $0" || echo "FAIL $0") & '
    "i=$((i+1)); done; wait"
)
DOCKERFILE = f"FROM {NESTED}\nRUN echo built > /built\n"


@dataclass
class DindLoad:
    """One DinD container's share of the load and what it left."""

    name: str
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    build_ok: bool = False
    zombies: list[str] = field(default_factory=list)
    leaked_mounts: list[str] = field(default_factory=list)
    leaked_veths: list[str] = field(default_factory=list)
    peak_bytes: int = 0


@dataclass
class LoadResult:
    wall_s: float
    dinds: list[DindLoad]


def peak_memory_bytes(pid: int) -> int:
    """The peak memory of a DinD container's host cgroup (v2 memory.peak, v1 max_usage_in_bytes; 0: unknown)."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        relative = Path(path.lstrip("/"))
        if relative.name == "init":  # the launcher's init child on cgroup v2: the container is its parent
            relative = relative.parent
        if controllers == "":
            candidate = Path("/sys/fs/cgroup") / relative / "memory.peak"
        elif "memory" in controllers.split(","):
            candidate = Path("/sys/fs/cgroup/memory") / relative / "memory.max_usage_in_bytes"
        else:
            continue
        if candidate.exists():
            return int(candidate.read_text())
    return 0


def run_load(image: str, busybox_tar: Path, dinds: int, runs: int, run_options: tuple[str, ...] = ()) -> LoadResult:
    """Start ``dinds`` DinD containers, then in all at once ``runs`` runs and one build each."""
    with ExitStack() as stack:
        daemons: list[Dind] = [stack.enter_context(dind(image, run_options=run_options)) for _ in range(dinds)]
        for daemon in daemons:
            daemon.load_image(busybox_tar)
        pids = {daemon.name: container_pid(daemon.name) for daemon in daemons}
        before = {name: (sorted(mount_points(pid)), sorted(net_devices(pid))) for name, pid in pids.items()}
        started = time.monotonic()
        workers = []
        for daemon in daemons:
            script = RUNS_SCRIPT.replace("{image}", NESTED)
            runs_process = subprocess.Popen(["docker", "exec", daemon.name, "sh", "-c", script, daemon.name, str(runs)],
                                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
            build_process = subprocess.Popen(["docker", "exec", "-i", daemon.name, "docker", "build", "-q", "-t",
                                              "dfs-load-build", "-"], stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
            assert build_process.stdin is not None
            build_process.stdin.write(DOCKERFILE)
            build_process.stdin.close()
            workers.append((daemon, runs_process, build_process))
        results = []
        for daemon, runs_process, build_process in workers:
            runs_out, _ = runs_process.communicate(timeout=900)
            assert build_process.stdout is not None
            build_out = build_process.stdout.read()
            build_process.wait(timeout=900)
            outcome = DindLoad(daemon.name)
            outcome.ok = runs_out.count("ok ")
            outcome.failures = [line for line in runs_out.splitlines() if not line.startswith("ok ")]
            outcome.build_ok = build_process.returncode == 0
            if not outcome.build_ok:
                outcome.failures.append(f"build: {build_out.strip()[-300:]}")
            results.append(outcome)
        wall = time.monotonic() - started
        for outcome in results:
            pid = pids[outcome.name]
            mounts, devices = before[outcome.name]

            def settled(pid: int = pid, mounts: list[str] = mounts, devices: list[str] = devices) -> bool:
                return sorted(mount_points(pid)) == mounts and sorted(net_devices(pid)) == devices

            sleep_until(settled, timeout=20)
            outcome.leaked_mounts = sorted(set(mount_points(pid)) - set(mounts))
            outcome.leaked_veths = sorted(set(net_devices(pid)) - set(devices))
            outcome.zombies = zombies_in_namespace(pid)
            outcome.peak_bytes = peak_memory_bytes(pid)
        return LoadResult(wall, results)
