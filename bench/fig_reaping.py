"""Figure 6: 10,000 orphans under the launcher in reap mode.

``incontainer/orphans.py`` is given to the launcher as DOCKER_BINARY, so it runs where
dockerd runs: under docker-init (the default reap mode), under the launcher's Python
supervisor (docker-init masked with /dev/null), and as PID 1 itself (--no-reap: the
baseline, where nobody reaps).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bench import engine
from bench.session import Session
from bench.table import BenchError, Detail, Figure, Results, Target, format_value, median

ORPHANS = 10_000
WAVE = 1_000
MASK_DOCKER_INIT = ("-v", "/dev/null:/usr/bin/docker-init:ro")
MODES = {
    "docker-init": ((), "docker-init"),
    "supervisor": (MASK_DOCKER_INIT, "dockerlaunch"),
    # No stop waiter either: the baseline is the place-holder as PID 1, nobody between.
    "no-reap": (("-e", "DOCKER_LAUNCH_REAP=false", "-e", "DOCKER_LAUNCH_STOP_GRACE=off", "-e", "BENCH_WAIT=0.5"),
                "orphans.py"),
}


@dataclass(frozen=True)
class OrphanRun:
    """What orphans.py printed for one container."""

    pid1: str
    zombies_left: int
    waves_ms: list[float]  # per wave: release to all gone (waves that timed out left out)
    elapsed_s: float
    pid1_cpu_s: float


def one_run(image: str, mode: str) -> OrphanRun:
    extra, expected_pid1 = MODES[mode]
    options = (
        "--tmpfs", "/var/lib/docker", "-e", "DOCKER_TLS_CERTDIR=", *engine.mount_scripts(),
        "-e", f"BENCH_ORPHANS={ORPHANS}", "-e", f"BENCH_WAVE={WAVE}", *extra,
        "--entrypoint", "/usr/bin/dockerlaunch",
    )  # fmt: skip
    stdout, _ = engine.run_attached(image, f"{engine.MOUNT_POINT}/orphans.py", options=options, timeout=900)
    try:
        found = json.loads(stdout.strip().splitlines()[-1])
        run = OrphanRun(
            pid1=str(found["pid1"]),
            zombies_left=int(found["zombies_left"]),
            waves_ms=[float(s) * 1000 for s in found["wave_reaped_s"] if s is not None],
            elapsed_s=float(found["elapsed_s"]),
            pid1_cpu_s=float(found["pid1_cpu_s"]),
        )
    except (ValueError, IndexError, KeyError, TypeError):
        raise BenchError(f"orphans.py printed no result ({mode}): {stdout.strip()[-200:]}") from None
    if run.pid1 != expected_pid1:
        raise BenchError(f"{mode}: PID 1 was {run.pid1}, not {expected_pid1}")
    return run


def measure(session: Session) -> Results:
    image = session.image()
    repetitions = {"docker-init": session.repetitions(3, 1), "supervisor": session.repetitions(3, 1), "no-reap": 1}
    session.log(f"reaping: {ORPHANS:,} orphans per run in waves of {WAVE:,}: {repetitions}")
    runs: dict[str, list[OrphanRun]] = {mode: [] for mode in MODES}
    for index in range(max(repetitions.values())):
        for mode in MODES:
            if index < repetitions[mode]:
                runs[mode].append(one_run(image, mode))
    left = {mode: [float(r.zombies_left) for r in found] for mode, found in runs.items()}
    burst_ms = {mode: [ms for r in found for ms in r.waves_ms] for mode, found in runs.items()}
    figures = []
    for mode, title in (("docker-init", "docker-init"), ("supervisor", "the launcher's Python supervisor")):
        figures.append(Figure(
            key=f"reaping.zombies-{mode}",
            title=f"Zombies left after {ORPHANS:,} orphans, reaped by {title}",
            unit="count",
            runs=left[mode],
            baseline_title="no reaper (--no-reap)",
            baseline_runs=left["no-reap"],
            target=Target("value", 0),
            holds_back="orphans outlived the wait: the reaper is not collecting them",
        ))  # fmt: skip
    figures.append(Figure(
        key="reaping.burst",
        title=f"Reaping a burst of {WAVE:,} orphans exiting at once (docker-init)",
        unit="ms",
        runs=burst_ms["docker-init"],
        baseline_title="the Python supervisor",
        baseline_runs=burst_ms["supervisor"],
    ))  # fmt: skip
    figures[0].note = (
        f"a place-holder dockerd (given to the launcher as DOCKER_BINARY) makes {ORPHANS:,} orphans in waves "
        f"of {WAVE:,} blocked on a pipe, closes it and times until /proc is back to its count (their exits "
        "included); then counts zombies. Baseline: --no-reap, the place-holder is PID 1 and nobody reaps"
    )
    rows = [
        [
            mode,
            found[0].pid1,
            format_value(median([r.elapsed_s for r in found]), "s"),
            format_value((median([r.pid1_cpu_s for r in found]) or 0.0) * 1000, "ms"),
        ]
        for mode, found in runs.items()
    ]
    detail = Detail("Reaping: per run (medians)", ["mode", "PID 1", "whole run", "PID 1 CPU time"], rows)
    return Results(figures, [detail])
