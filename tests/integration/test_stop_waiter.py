"""The dash stop waiter (stopgrace.WAITER_SCRIPT) with real dash and real signals."""

import signal
import subprocess
import time
from pathlib import Path

import pytest

from docker_from_scratch.launcher import stopgrace
from docker_from_scratch.launcher.run import find_program
from tests.testing.procs import sleep_until

pytestmark = pytest.mark.integration

# Stands in for dockerd: notes each signal in the journal; TERM ends it with status 3.
CHILD = (
    "trap 'echo child-HUP >> \"$0\"' HUP; trap 'echo child-TERM >> \"$0\"; exit 3' TERM; "
    "echo ready >> \"$0\"; while :; do sleep 0.05; done"
)
# Stands in for `dockerlaunch --stop-nested GRACE SOCKET`: slow, so ordering shows.
STOP = ("sh", "-c", 'sleep 0.3; echo "stop $* $DOCKER_HOST" >> "$0"')


def start_waiter(journal: Path) -> subprocess.Popen[bytes]:
    dash = find_program(stopgrace.WAITER, "/usr/bin:/bin")
    assert dash is not None, "dash is required"
    argv = stopgrace.waiter_argv(dash, 6, "/run/x.sock", ["sh", "-c", CHILD, str(journal)],
                                 launcher=[*STOP, str(journal)])  # fmt: skip
    process = subprocess.Popen(argv)
    assert sleep_until(lambda: journal.exists() and "ready" in journal.read_text())
    return process


def test_stop_waiter_stops_nested_before_forwarding_sigterm(tmp_path: Path) -> None:
    """SIGTERM should run the stop command first, then reach the child; the child's status should pass on."""
    journal = tmp_path / "journal"
    process = start_waiter(journal)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 3
    assert journal.read_text().split("\n")[1:] == ["stop --stop-nested 6 unix:///run/x.sock", "child-TERM", ""]


def test_stop_waiter_passes_sighup_on_without_stopping(tmp_path: Path) -> None:
    """SIGHUP (dockerd's reload) should reach the child at once and leave it running."""
    journal = tmp_path / "journal"
    process = start_waiter(journal)
    try:
        process.send_signal(signal.SIGHUP)
        assert sleep_until(lambda: "child-HUP" in journal.read_text())
        time.sleep(0.2)
        assert process.poll() is None and "stop" not in journal.read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)


def test_stop_waiter_returns_a_killed_child_status(tmp_path: Path) -> None:
    """A child killed by SIGKILL should make the waiter exit 137, as docker-init reports it."""
    journal = tmp_path / "journal"
    process = start_waiter(journal)
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    subprocess.run(["kill", "-9", *children], check=True)
    assert process.wait(timeout=10) == 137
