"""Figure 5: resident memory of PID 1 in reap mode, against dockerd and the Python supervisor.

Our image started as the README starts it; once the nested API answers and a few seconds
have passed, VmRSS of the container's PID 1 (docker-init, which the launcher execs in reap
mode) and of dockerd are read from the host's /proc. The Python supervisor is what the
launcher stays as when the image has no docker-init: measured with docker-init masked by
a bind mount of /dev/null (no longer a regular file, so the launcher does not find it).
"""

from __future__ import annotations

import time

from bench import engine
from bench.session import Session
from bench.table import BenchError, Figure, Results, Target

TARGET_MB = 2.0
SETTLE_S = 3.0
MASK_DOCKER_INIT = ("-v", "/dev/null:/usr/bin/docker-init:ro")
MB = 1024 / 1e6  # KiB to MB


def sample(image: str, options: tuple[str, ...], expected_pid1: str) -> tuple[float, float]:
    """(PID 1's RSS, dockerd's RSS) in MB, in a running DinD container."""
    with engine.started(image, options=options) as container:
        engine.wait_for_api(container)
        time.sleep(SETTLE_S)
        pid1 = container.host_pid()
        name = engine.comm(pid1)
        if name != expected_pid1:
            raise BenchError(f"PID 1 of {container.name} is {name}, not {expected_pid1}")
        dockerd = engine.find_descendant(pid1, "dockerd")
        if dockerd is None:
            raise BenchError(f"no dockerd under PID 1 of {container.name}")
        return engine.rss_kib(pid1) * MB, engine.rss_kib(dockerd) * MB


def measure(session: Session) -> Results:
    image = session.image()
    repetitions = session.repetitions(3, 1)
    session.log(f"memory: {repetitions} containers with docker-init, {repetitions} with the Python supervisor")
    init_rss: list[float] = []
    dockerd_rss: list[float] = []
    supervisor_rss: list[float] = []
    for _ in range(repetitions):
        pid1, dockerd = sample(image, (), "docker-init")
        init_rss.append(pid1)
        dockerd_rss.append(dockerd)
        supervisor_rss.append(sample(image, MASK_DOCKER_INIT, "dockerlaunch")[0])
    title = "RSS of PID 1 in reap mode (docker-init)"
    against_dockerd = Figure(
        key="memory.pid1",
        title=title,
        unit="MB",
        runs=init_rss,
        baseline_title="dockerd",
        baseline_runs=dockerd_rss,
        target=Target("value", TARGET_MB),
        holds_back="docker-init is Debian's tini-static (glibc, static)",
        note=f"VmRSS from the host's /proc, {SETTLE_S:.0f} s after the nested API answered; the Python supervisor "
        "is measured with docker-init masked (-v /dev/null:/usr/bin/docker-init)",
    )
    against_python = Figure(
        key="memory.pid1-vs-supervisor",
        title=title,
        unit="MB",
        runs=init_rss,
        baseline_title="the launcher's Python supervisor as PID 1",
        baseline_runs=supervisor_rss,
        target=Target("value", TARGET_MB),
        holds_back=against_dockerd.holds_back,
    )
    return Results([against_dockerd, against_python])
