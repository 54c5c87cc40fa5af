"""Figure 5: resident memory of PID 1 in reap mode, against dockerd and the Python supervisor.

Our image started as the README starts it; once the nested API answers and a few seconds
have passed, VmRSS of the container's PID 1 (docker-init, which the launcher execs in reap
mode), of its child the stop waiter (dash, the default clean stop) and of dockerd are read
from the host's /proc. What waits resident for `docker stop` is docker-init plus the
waiter; the baseline is docker-init alone (DOCKER_LAUNCH_STOP_GRACE=off). That pair is
counted as PSS: most of dash's RSS is libc and ld.so pages that dockerd maps too, which
plain RSS would count twice; RSS and private memory are in the detail table. The Python supervisor is what the
launcher stays as when the image has no docker-init: measured with docker-init masked by
a bind mount of /dev/null (no longer a regular file, so the launcher does not find it).
"""

from __future__ import annotations

import time

from bench import engine
from bench.session import Session
from bench.table import BenchError, Detail, Figure, Results, Target, format_value

TARGET_MB = 2.0
SETTLE_S = 3.0
MASK_DOCKER_INIT = ("-v", "/dev/null:/usr/bin/docker-init:ro")
STOP_GRACE_OFF = ("-e", "DOCKER_LAUNCH_STOP_GRACE=off")
WAITER = "dash"
MB = 1024 / 1e6  # KiB to MB


def sample(image: str, options: tuple[str, ...], expected_pid1: str) -> tuple[float, dict[str, int], float]:
    """(PID 1's RSS in MB, smaps_rollup of PID 1 plus the stop waiter in KiB, dockerd's RSS in MB)."""
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
        waiting = [pid1, *(child for child in engine.children(pid1) if engine.comm(child) == WAITER)]
        rollups = [engine.rollup_kib(pid) for pid in waiting]
        pair = {key: sum(rollup.get(key, 0) for rollup in rollups) for key in rollups[0]}
        pair["processes"] = len(waiting)
        return engine.rss_kib(pid1) * MB, pair, engine.rss_kib(dockerd) * MB


def measure(session: Session) -> Results:
    image = session.image()
    repetitions = session.repetitions(3, 1)
    session.log(f"memory: {repetitions} containers with docker-init, {repetitions} with the Python supervisor")
    init_rss: list[float] = []
    dockerd_rss: list[float] = []
    supervisor_rss: list[float] = []
    pairs: list[dict[str, int]] = []
    init_alone_pss: list[float] = []
    for _ in range(repetitions):
        pid1, pair, dockerd = sample(image, (), "docker-init")
        if pair["processes"] != 2:
            raise BenchError(f"no {WAITER} stop waiter under docker-init in the default start")
        init_rss.append(pid1)
        pairs.append(pair)
        dockerd_rss.append(dockerd)
        init_alone_pss.append(sample(image, STOP_GRACE_OFF, "docker-init")[1]["Pss"] * MB)
        supervisor_rss.append(sample(image, (*MASK_DOCKER_INIT, *STOP_GRACE_OFF), "dockerlaunch")[0])
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
    resident = Figure(
        key="memory.stop-waiter",
        title="PSS of what waits for docker stop by default (docker-init + the dash stop waiter)",
        unit="MB",
        runs=[pair["Pss"] * MB for pair in pairs],
        baseline_title="docker-init alone (DOCKER_LAUNCH_STOP_GRACE=off)",
        baseline_runs=init_alone_pss,
        target=Target("value", TARGET_MB),
        holds_back="docker-init is Debian's tini-static; the waiter is Debian's dash with glibc",
        note="smaps_rollup from the host's /proc; the clean stop's Python work starts only when SIGTERM comes",
    )
    rows = [
        [key, *(format_value(pick(pair[key] for pair in pairs) * MB, "MB") for pick in (min, max))]
        for key in ("Rss", "Pss", "Private_Clean", "Private_Dirty", "Shared_Clean")
    ]
    detail = Detail("Memory of docker-init + the dash stop waiter (smaps_rollup)", ["field", "min", "max"], rows)
    return Results([against_dockerd, against_python, resident], [detail])
