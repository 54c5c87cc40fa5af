"""Figure 10: load, ten DinD containers at once, each twenty nested `docker run --rm` and
one nested build, all in parallel (tests/testing/load.py, whose quick form runs in CI).

Ours in the default mode (docker-init, the dash stop waiter) against the same load in
exec mode (dockerd as PID 1, no waiter: DOCKER_LAUNCH_REAP=false, STOP_GRACE=off), the
mode closest to docker:dind's recipe without pulling its image. Every run and build must
succeed and, in our default mode, leave no zombie, mount or veth (exec mode has no reaper:
its exited shims stay zombies, counted in the detail table); the figures are the wall
time of the whole load and each DinD container's peak memory (its host cgroup's memory.peak, or
memory.max_usage_in_bytes on cgroup v1).
"""

from __future__ import annotations

from tests.testing.engine import ensure_busybox_image, save_image
from tests.testing.load import LoadResult, run_load

from bench.session import Session
from bench.table import BenchError, Detail, Figure, Results

EXEC_MODE = ("-e", "DOCKER_LAUNCH_REAP=false", "-e", "DOCKER_LAUNCH_STOP_GRACE=off")
MB = 1e6


def checked(result: LoadResult, what: str, *, zombies_allowed: bool = False) -> LoadResult:
    for outcome in result.dinds:
        leaked = outcome.leaked_mounts or outcome.leaked_veths or (outcome.zombies and not zombies_allowed)
        if outcome.failures or leaked:
            raise BenchError(f"load ({what}): {outcome}")
    return result


def measure(session: Session) -> Results:
    image = session.image()
    archive = save_image(ensure_busybox_image(), session.work / "busybox.tar")
    dinds, runs = session.repetitions(10, 3), session.repetitions(20, 5)
    session.log(f"load: {dinds} DinD containers x ({runs} nested runs + 1 build), default mode, then exec mode")
    ours = checked(run_load(image, archive, dinds, runs), "default")
    baseline = checked(run_load(image, archive, dinds, runs, EXEC_MODE), "exec mode", zombies_allowed=True)
    title = f"{dinds} DinD containers at once, each {runs} nested docker run --rm + 1 build"
    wall = Figure(
        key="load.wall", title=f"{title}: wall time", unit="s", runs=[ours.wall_s],
        baseline_title="the same in exec mode (dockerd as PID 1)", baseline_runs=[baseline.wall_s],
        note="no failure, leaked mount or veth in either run, no zombie in ours (checked)",
    )  # fmt: skip
    peak = Figure(
        key="load.peak-memory", title=f"{title}: peak memory per DinD container", unit="MB",
        runs=[o.peak_bytes / MB for o in ours.dinds],
        baseline_title="the same in exec mode", baseline_runs=[o.peak_bytes / MB for o in baseline.dinds],
        note="peak memory of each DinD container's host cgroup (nested containers and page cache included)",
    )  # fmt: skip
    rows = [[mode, str(sum(len(o.zombies) for o in result.dinds)), str(sum(o.ok for o in result.dinds))]
            for mode, result in (("ours (docker-init, stop waiter)", ours), ("exec mode (dockerd as PID 1)", baseline))]
    detail = Detail("Load: what each mode left", ["mode", "zombies after the load", "nested runs ok"], rows)
    return Results([wall, peak], [detail])
