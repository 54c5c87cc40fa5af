"""Figure 10: load, ten DinD containers at once, each twenty nested `docker run --rm` and
one nested build, all in parallel (tests/testing/load.py, whose quick form runs in CI).

Ours in the default mode (docker-init, the dash stop waiter) against the same load in
exec mode (dockerd as PID 1, no waiter: DOCKER_LAUNCH_REAP=false, STOP_GRACE=off), the
mode closest to docker:dind's recipe without pulling its image. Every run and build must
succeed and leave no zombie, mount or veth; the figures are the wall time of the whole
load and each DinD container's peak memory (its host cgroup's memory.peak, or
memory.max_usage_in_bytes on cgroup v1).
"""

from __future__ import annotations

from tests.testing.engine import ensure_busybox_image, save_image
from tests.testing.load import LoadResult, run_load

from bench.session import Session
from bench.table import BenchError, Figure, Results

EXEC_MODE = ("-e", "DOCKER_LAUNCH_REAP=false", "-e", "DOCKER_LAUNCH_STOP_GRACE=off")
MB = 1e6


def checked(result: LoadResult, what: str) -> LoadResult:
    for outcome in result.dinds:
        if outcome.failures or outcome.zombies or outcome.leaked_mounts or outcome.leaked_veths:
            raise BenchError(f"load ({what}): {outcome}")
    return result


def measure(session: Session) -> Results:
    image = session.image()
    archive = save_image(ensure_busybox_image(), session.work / "busybox.tar")
    dinds, runs = session.repetitions(10, 3), session.repetitions(20, 5)
    session.log(f"load: {dinds} DinD containers x ({runs} nested runs + 1 build), default mode, then exec mode")
    ours = checked(run_load(image, archive, dinds, runs), "default")
    baseline = checked(run_load(image, archive, dinds, runs, EXEC_MODE), "exec mode")
    title = f"{dinds} DinD containers at once, each {runs} nested docker run --rm + 1 build"
    wall = Figure(
        key="load.wall", title=f"{title}: wall time", unit="s", runs=[ours.wall_s],
        baseline_title="the same in exec mode (dockerd as PID 1)", baseline_runs=[baseline.wall_s],
        note="no failure, zombie, leaked mount or veth in either run (checked)",
    )  # fmt: skip
    peak = Figure(
        key="load.peak-memory", title=f"{title}: peak memory per DinD container", unit="MB",
        runs=[o.peak_bytes / MB for o in ours.dinds],
        baseline_title="the same in exec mode", baseline_runs=[o.peak_bytes / MB for o in baseline.dinds],
        note="peak memory of each DinD container's host cgroup (nested containers and page cache included)",
    )  # fmt: skip
    return Results([wall, peak])
