"""Load, quick form: three DinD containers at once, each five nested `docker run --rm` and
one nested build in parallel. The full form (ten containers, twenty runs each) is the
bench's `load` figure (bench/fig_load.py)."""

from pathlib import Path

from tests.testing.load import run_load

DINDS, RUNS = 3, 5


def test_load_parallel_dinds_complete_and_leave_nothing(image: str, busybox_tar: Path) -> None:
    """Every nested run and build should succeed, with no zombie, leaked mount or veth in any DinD container."""
    result = run_load(image, busybox_tar, DINDS, RUNS)
    for outcome in result.dinds:
        print(f"{outcome.name}: {outcome.ok} runs ok, build {'ok' if outcome.build_ok else 'FAILED'}, "
              f"peak {outcome.peak_bytes / 1e6:.0f} MB")  # fmt: skip
    print(f"{DINDS} DinD x ({RUNS} runs + 1 build) in {result.wall_s:.1f} s")
    for outcome in result.dinds:
        assert outcome.ok == RUNS and not outcome.failures, outcome
        assert (outcome.zombies, outcome.leaked_mounts, outcome.leaked_veths) == ([], [], []), outcome
        assert outcome.peak_bytes > 0, f"no peak memory for {outcome.name}"
