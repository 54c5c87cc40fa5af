"""The stop waiter (stopgrace.WAITER_SCRIPT) under each shell of stopgrace.WAITERS, with real signals."""

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
# Stands in for `dockerlaunch --stop-dockerd GRACE PID SIGNAL`: notes its words (the pid
# as "PID"), slowly, so ordering shows, then signals the child as the launcher does.
STOP = ("sh", "-c", 'sleep 0.3; echo "stop $1 $2 PID $4 $DOCKER_HOST" >> "$0"; kill -"$4" "$3"')
# The same, failing before it signals anything (the waiter must forward the signal itself).
STOP_FAILING = ("sh", "-c", 'echo "stop failed" >> "$0"; exit 1')


@pytest.fixture(params=stopgrace.WAITERS)
def shell(request: pytest.FixtureRequest) -> str:
    """Each waiter shell the launcher may pick (scripts/setup installs both)."""
    found = find_program(str(request.param), "/usr/bin:/bin")
    assert found is not None, f"{request.param} is required (scripts/setup installs it)"
    return found


def start_waiter(shell: str, journal: Path, stop: tuple[str, ...] = STOP) -> subprocess.Popen[bytes]:
    argv = stopgrace.waiter_argv(shell, 6, "/run/x.sock", ["sh", "-c", CHILD, str(journal)],
                                 launcher=[*stop, str(journal)])  # fmt: skip
    process = subprocess.Popen(argv)
    assert sleep_until(lambda: journal.exists() and "ready" in journal.read_text())
    return process


def test_stop_waiter_hands_sigterm_to_the_stop_command(shell: str, tmp_path: Path) -> None:
    """SIGTERM should run the stop command with dockerd's pid, which signals the child; its status should pass on."""
    journal = tmp_path / "journal"
    process = start_waiter(shell, journal)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 3
    expected = ["stop --stop-dockerd 6 PID TERM unix:///run/x.sock", "child-TERM", ""]
    assert journal.read_text().split("\n")[1:] == expected


def test_stop_waiter_forwards_sigterm_when_the_stop_command_fails(shell: str, tmp_path: Path) -> None:
    """A stop command that fails should not swallow SIGTERM: the waiter should forward it to the child."""
    journal = tmp_path / "journal"
    process = start_waiter(shell, journal, STOP_FAILING)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 3
    assert journal.read_text().split("\n")[1:] == ["stop failed", "child-TERM", ""]


def test_stop_waiter_passes_sighup_on_without_stopping(shell: str, tmp_path: Path) -> None:
    """SIGHUP (dockerd's reload) should reach the child at once and leave it running."""
    journal = tmp_path / "journal"
    process = start_waiter(shell, journal)
    try:
        process.send_signal(signal.SIGHUP)
        assert sleep_until(lambda: "child-HUP" in journal.read_text())
        time.sleep(0.2)
        assert process.poll() is None and "stop" not in journal.read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)


def test_stop_waiter_returns_a_killed_child_status(shell: str, tmp_path: Path) -> None:
    """A child killed by SIGKILL should make the waiter exit 137, as docker-init reports it."""
    journal = tmp_path / "journal"
    process = start_waiter(shell, journal)
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    subprocess.run(["kill", "-9", *children], check=True)
    assert process.wait(timeout=10) == 137
