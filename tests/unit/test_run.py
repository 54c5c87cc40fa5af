"""The launcher's one door for subprocesses (posix_spawn, pipes, timeout)."""

import os
import sys
import time

import pytest

from docker_from_scratch.errors import describe_status
from docker_from_scratch.launcher.errors import LaunchError, UsageError
from docker_from_scratch.launcher.run import Forked, Started, run

PY = sys.executable


def test_run_captures_stdout_and_stderr_apart() -> None:
    """stdout and stderr should come back separately, decoded."""
    result = run([PY, "-c", "import sys; print('out'); print('err', file=sys.stderr)"])
    assert (result.returncode, result.stdout, result.stderr) == (0, "out\n", "err\n")


def test_run_large_output_on_both_pipes_does_not_deadlock() -> None:
    """Megabytes on stdout and stderr at once should be read fully, without a deadlock."""
    code = "import sys; sys.stdout.write('o' * 2_000_000); sys.stderr.write('e' * 2_000_000)"
    result = run([PY, "-c", code], timeout=30)
    assert len(result.stdout) == 2_000_000 and len(result.stderr) == 2_000_000


def test_run_failure_raises_with_the_last_stderr_line() -> None:
    """A non-zero exit with check should raise LaunchError naming the status and stderr."""
    with pytest.raises(LaunchError, match=r"exit status 3: second"):
        run([PY, "-c", "import sys; print('first\\nsecond', file=sys.stderr); sys.exit(3)"])


def test_run_without_check_returns_the_status() -> None:
    """check=False should hand back a failed status instead of raising."""
    assert run([PY, "-c", "raise SystemExit(5)"], check=False).returncode == 5


def test_run_killed_child_reports_the_signal() -> None:
    """A child killed by a signal should give -N and be described by the signal's name."""
    result = run([PY, "-c", "import os; os.kill(os.getpid(), 9)"], check=False)
    assert result.returncode == -9
    assert describe_status(result.returncode) == "killed by SIGKILL"


def test_run_stdin_is_dev_null() -> None:
    """The child should read end-of-file at once, never the launcher's terminal."""
    assert run([PY, "-c", "import sys; print(repr(sys.stdin.read()))"]).stdout.strip() == "''"


def test_run_uses_the_path_of_the_given_environment(tmp_path: os.PathLike[str]) -> None:
    """A bare program name should be found on env's PATH, not the launcher's own."""
    program = os.path.join(tmp_path, "only-here")
    with open(program, "w") as handle:
        handle.write("#!/bin/sh\necho found\n")
    os.chmod(program, 0o755)
    assert run(["only-here"], env={"PATH": os.fspath(tmp_path)}).stdout == "found\n"


def test_run_missing_program_names_the_fix() -> None:
    """A program that is on no PATH directory should fail in one line with a hint."""
    with pytest.raises(LaunchError, match="not found") as info:
        run(["no-such-program-here"], env={"PATH": "/nonexistent"})
    assert info.value.hint == "install it or fix PATH"


def test_run_timeout_kills_the_child() -> None:
    """A program that outlives the timeout should be killed and reported, promptly."""
    start = time.monotonic()
    with pytest.raises(LaunchError, match=r"did not finish within 0\.5 s"):
        run([PY, "-c", "import time; time.sleep(30)"], timeout=0.5)
    assert time.monotonic() - start < 10


def test_stream_hands_merged_output_over_as_it_comes() -> None:
    """stream should pass stdout and stderr, merged, to the callback and return the exit code."""
    from docker_from_scratch.launcher.run import stream

    chunks: list[bytes] = []
    status = stream(["sh", "-c", "echo out; echo err >&2; exit 4"], chunks.append)
    assert status == 4
    assert b"".join(chunks) == b"out\nerr\n"


def test_stream_refuses_a_missing_program_in_one_error() -> None:
    """stream should raise LaunchError naming a program that is on no PATH directory."""
    from docker_from_scratch.launcher.run import stream

    with pytest.raises(LaunchError, match="cannot run dfs-no-such-program: not found"):
        stream(["dfs-no-such-program"], lambda data: None, env={"PATH": "/nonexistent"})


def test_started_wait_collects_what_run_would() -> None:
    """Started should run the program at once and hand over its output and status on wait."""
    started = Started([PY, "-c", "import sys; print('out'); sys.exit(3)"])
    result = started.wait(check=False)
    assert (result.returncode, result.stdout) == (3, "out\n")


def test_started_second_wait_returns_the_first_result() -> None:
    """A second wait (an undo after the step's own) should give the same result, not reap again."""
    started = Started([PY, "-c", "print('once')"])
    first = started.wait()
    assert started.wait() is first


def test_started_wait_after_a_timeout_raises_launch_error() -> None:
    """A wait after one that timed out should say so as a LaunchError, not trip over closed pipes."""
    started = Started([PY, "-c", "import time; time.sleep(30)"])
    with pytest.raises(LaunchError, match="did not finish"):
        started.wait(timeout=0.2)
    with pytest.raises(LaunchError, match="was not collected"):
        started.wait(check=False)


def test_started_wait_interrupted_leaves_no_child() -> None:
    """A signal that ends a wait (Ctrl-C) should take the child with it: killed and reaped."""
    import signal

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    started = Started([PY, "-c", "import time; time.sleep(30)"])
    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.3)
    try:
        with pytest.raises(KeyboardInterrupt):
            started.wait()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    with pytest.raises(ChildProcessError):
        os.waitpid(started._pid, os.WNOHANG)  # reaped already: no zombie, no process


def test_started_stop_kills_and_reaps_at_once() -> None:
    """stop should end a program still running without waiting for it, and leave nothing behind."""
    started = Started([PY, "-c", "import time; time.sleep(30)"])
    begun = time.monotonic()
    started.stop()
    assert time.monotonic() - begun < 5
    with pytest.raises(ChildProcessError):
        os.waitpid(started._pid, os.WNOHANG)
    with pytest.raises(LaunchError, match="was not collected"):
        started.wait()


def test_forked_join_raises_the_childs_launch_error_with_its_hint() -> None:
    """Forked should hand a LaunchError (and a UsageError's kind) back to join, hint included."""

    def fail() -> None:
        raise UsageError("bad entry", hint="write it right")

    with pytest.raises(UsageError) as caught:
        Forked(fail).join()
    assert caught.value.one_line() == "bad entry (hint: write it right)"
    assert caught.value.exit_status == 2


def test_forked_join_raises_the_childs_os_error() -> None:
    """Forked should raise an OSError from the child with its errno and file name."""

    def fail() -> None:
        os.rename("/nonexistent/dfs-forked-a", "/nonexistent/dfs-forked-b")

    with pytest.raises(FileNotFoundError) as caught:
        Forked(fail).join()
    assert caught.value.filename == "/nonexistent/dfs-forked-a"


def test_forked_runs_in_another_process_and_join_waits_for_it(tmp_path: os.PathLike[str]) -> None:
    """Forked should run the function in a child (another pid) that has finished when join returns."""
    marker = os.path.join(tmp_path, "pid")

    def write_pid() -> None:
        time.sleep(0.2)
        with open(marker, "w") as handle:
            handle.write(str(os.getpid()))

    Forked(write_pid).join()
    with open(marker) as handle:
        assert int(handle.read()) != os.getpid()
