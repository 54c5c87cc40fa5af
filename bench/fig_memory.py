"""Figure 5: resident memory of PID 1 in reap mode, against dockerd and the Python supervisor.

Our image started as the README starts it; once the nested API answers and a few seconds
have passed, VmRSS of the container's PID 1 (docker-init, which the launcher execs in reap
mode), of its child the stop waiter (mksh-static, the default clean stop) and of dockerd
are read from the host's /proc. What waits resident for `docker stop` is docker-init plus
the waiter; the baseline is docker-init alone (DOCKER_LAUNCH_STOP_GRACE=off). The pair is
counted as the sum of their RSS, the issue's measure (it counts a page both map twice);
PSS and private memory are in the detail table. The Python supervisor is what the
launcher stays as when the image has no docker-init: measured with docker-init masked by
a bind mount of /dev/null (no longer a regular file, so the launcher does not find it).
"""

from __future__ import annotations

import time

from bench import engine
from bench.session import Session
from bench.table import BenchError, Detail, Figure, Results, Target, format_value
from docker_from_scratch.launcher.stopgrace import WAITERS

TARGET_MB = 2.0
SETTLE_S = 3.0
MASK_DOCKER_INIT = ("-v", "/dev/null:/usr/bin/docker-init:ro")
STOP_GRACE_OFF = ("-e", "DOCKER_LAUNCH_STOP_GRACE=off")
WAITER, FALLBACK = WAITERS  # the image's waiter, and dash (comm is the name each is run by)
# dash as the waiter, for the choice's figure: mksh-static masked as docker-init is below.
MASK_WAITER = ("-v", f"/dev/null:/usr/bin/{WAITER}:ro")
MB = 1024 / 1e6  # KiB to MB


def sample(
    image: str, options: tuple[str, ...], expected_pid1: str, waiter: str = WAITER
) -> tuple[float, dict[str, int], float]:
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
        waiting = [pid1, *(child for child in engine.children(pid1) if engine.comm(child) == waiter)]
        rollups = [engine.rollup_kib(pid) for pid in waiting]
        pair = {key: sum(rollup.get(key, 0) for rollup in rollups) for key in rollups[0]}
        pair["processes"] = len(waiting)
        return engine.rss_kib(pid1) * MB, pair, engine.rss_kib(dockerd) * MB


def measure(session: Session) -> Results:
    image = session.image()
    repetitions = session.repetitions(3, 1)
    session.log(f"memory: {repetitions} x (default, stop grace off, {FALLBACK} waiter, the Python supervisor)")
    init_rss: list[float] = []
    dockerd_rss: list[float] = []
    supervisor_rss: list[float] = []
    pairs: list[dict[str, int]] = []
    init_alone_rss: list[float] = []
    dash_pair_rss: list[float] = []
    for _ in range(repetitions):
        pid1, pair, dockerd = sample(image, (), "docker-init")
        if pair["processes"] != 2:
            raise BenchError(f"no {WAITER} stop waiter under docker-init in the default start")
        init_rss.append(pid1)
        pairs.append(pair)
        dockerd_rss.append(dockerd)
        init_alone_rss.append(sample(image, STOP_GRACE_OFF, "docker-init")[1]["Rss"] * MB)
        dash_pair = sample(image, MASK_WAITER, "docker-init", FALLBACK)[1]
        if dash_pair["processes"] != 2:
            raise BenchError(f"no {FALLBACK} stop waiter under docker-init with {WAITER} masked")
        dash_pair_rss.append(dash_pair["Rss"] * MB)
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
        title=f"RSS of what waits for docker stop by default (docker-init + the {WAITER} stop waiter)",
        unit="MB",
        runs=[pair["Rss"] * MB for pair in pairs],
        baseline_title="docker-init alone (DOCKER_LAUNCH_STOP_GRACE=off)",
        baseline_runs=init_alone_rss,
        target=Target("value", TARGET_MB),
        holds_back=f"docker-init is Debian's tini-static (static glibc); the waiter is Debian's static {WAITER}",
        note="smaps_rollup from the host's /proc; the clean stop's Python work starts only when SIGTERM comes",
    )
    against_dash = Figure(
        key="memory.stop-waiter-vs-dash",
        title=resident.title,
        unit="MB",
        runs=resident.runs,
        baseline_title=f"docker-init + {FALLBACK} (glibc) as the waiter ({WAITER} masked)",
        baseline_runs=dash_pair_rss,
        target=Target("value", TARGET_MB),
        holds_back=resident.holds_back,
        note=f"the same script under {FALLBACK}, the launcher's fallback: most of its RSS is libc and ld.so pages",
    )
    rows = [
        [key, *(format_value(pick(pair[key] for pair in pairs) * MB, "MB") for pick in (min, max))]
        for key in ("Rss", "Pss", "Private_Clean", "Private_Dirty", "Shared_Clean")
    ]
    detail = Detail(f"Memory of docker-init + the {WAITER} stop waiter (smaps_rollup)", ["field", "min", "max"], rows)
    return Results([against_dockerd, against_python, resident, against_dash], [detail])
