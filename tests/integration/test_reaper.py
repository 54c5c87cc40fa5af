"""The Python supervisor (reap mode without docker-init, and PID 1 on a bare kernel)."""

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from docker_from_scratch.launcher.reaper import FORWARDED
from tests.testing.procs import children_of, sleep_until, zombies_of

PLACEHOLDER = Path(__file__).resolve().parents[1] / "testing" / "placeholder_dockerd.py"
SUPERVISE = (
    "import os, sys; from docker_from_scratch.launcher import reaper; "
    "sys.exit(reaper.supervise(sys.argv[1:], dict(os.environ)))"
)

pytestmark = pytest.mark.integration


@contextmanager
def supervised(*argv: str, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    """Run argv under reaper.supervise in a fresh Python process (not PID 1: a subreaper)."""
    process = subprocess.Popen(
        [sys.executable, "-c", SUPERVISE, *argv],
        env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("ready"), "place-holder did not start"
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def test_reaper_exit_status_propagates() -> None:
    """The supervisor should exit with its child's exit status."""
    with supervised(sys.executable, os.fspath(PLACEHOLDER), env={"PLACEHOLDER_EXIT": "7"}) as process:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 7


def test_reaper_killed_child_exits_128_plus_signal() -> None:
    """A child killed by a signal should make the supervisor exit with 128 + that signal."""
    env = {"PLACEHOLDER_SELF_KILL": "SIGKILL"}
    with supervised(sys.executable, os.fspath(PLACEHOLDER), env=env) as process:
        assert process.wait(timeout=10) == 128 + signal.SIGKILL


@pytest.mark.parametrize("signum", FORWARDED, ids=lambda s: signal.Signals(s).name)
def test_reaper_forwards_signal_to_child(signum: int) -> None:
    """Each forwarded signal sent to the supervisor should reach dockerd's place-holder."""
    with supervised(sys.executable, os.fspath(PLACEHOLDER)) as process:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "orphans spawned"
        process.send_signal(signum)
        assert process.stdout.readline().strip() == f"got {signal.Signals(signum).name}"
        if signum not in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_reaper_reaps_orphans_when_not_pid1() -> None:
    """Orphans of the child's tree should be reaped by the supervisor as a subreaper."""
    with supervised(sys.executable, os.fspath(PLACEHOLDER), env={"PLACEHOLDER_ORPHANS": "50"}) as process:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "orphans spawned"
        children = children_of(process.pid)
        # The orphans (alive for 0.5 s) were re-parented to the supervisor, not to PID 1 ...
        assert len(children) > 1
        # ... and once they exit, the supervisor collects them: only the place-holder is left.
        only_child = lambda: len(children_of(process.pid)) == 1  # noqa: E731
        assert sleep_until(only_child, timeout=10), children_of(process.pid)
        assert not zombies_of(process.pid)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_reaper_default_signals_give_a_forked_child_a_fresh_interpreters_handlers() -> None:
    """After PID 1's handlers and mask, a forked launcher should get KeyboardInterrupt on SIGINT back, SIG_DFL
    for the other forwarded signals, and nothing blocked."""
    code = (
        "import signal; from docker_from_scratch.launcher import reaper\n"
        "for s in reaper.FORWARDED: signal.signal(s, lambda *a: None)\n"
        "signal.pthread_sigmask(signal.SIG_BLOCK, reaper.FORWARDED)\n"
        "reaper.default_signals()\n"
        "print(signal.getsignal(signal.SIGINT) is signal.default_int_handler,\n"
        "      all(signal.getsignal(s) is signal.SIG_DFL for s in reaper.FORWARDED if s != signal.SIGINT),\n"
        "      sorted(signal.pthread_sigmask(signal.SIG_BLOCK, [])))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True)
    assert result.stdout.split() == ["True", "True", "[]"]
