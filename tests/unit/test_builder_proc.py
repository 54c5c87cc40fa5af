"""The builder's one door for subprocesses: its failures as one line, in words."""

import os

import pytest

from docker_from_scratch.builder.errors import BuildError
from docker_from_scratch.builder.proc import run_tool, spawn, start
from docker_from_scratch.errors import Error


def test_run_tool_names_the_signal_that_killed_the_tool() -> None:
    """A tool killed by a signal should be reported as 'killed by SIGKILL', not 'exit status -9'."""
    with pytest.raises(BuildError, match="killed by SIGKILL") as info:
        run_tool(["sh", "-c", "echo dying >&2; kill -KILL $$"])
    assert "-9" not in info.value.message
    assert info.value.message.endswith(": dying")


def test_run_tool_reports_exit_status_and_last_stderr_line() -> None:
    """A failing tool should give its exit status and the last line it wrote to stderr."""
    with pytest.raises(BuildError, match=r"failed with exit status 3: second$"):
        run_tool(["sh", "-c", "echo first >&2; echo second >&2; exit 3"])


def test_build_error_is_the_package_error() -> None:
    """BuildError should be a kind of the one Error base, so every main prints it the same way."""
    assert issubclass(BuildError, Error)
    assert BuildError("x", hint="y", exit_status=4).exit_status == 4


def test_spawn_failure_of_a_streamed_tool_wins_over_the_reader() -> None:
    """When a streamed tool fails and its truncated output trips the reader, the tool's failure should be raised."""
    argv = ["sh", "-c", "printf half; echo broken stream >&2; exit 2"]
    with pytest.raises(BuildError, match=r"exit status 2: broken stream"), spawn(argv) as proc:
        assert proc.stdout is not None
        data = proc.stdout.read()
        proc.wait()
        raise ValueError(f"cannot parse {data!r}")


def test_spawn_reader_error_stops_a_healthy_tool() -> None:
    """A reader that gives up should stop the tool and raise its own error, not hang on a full pipe."""
    with pytest.raises(ValueError, match="reader gave up"), spawn(["sh", "-c", "yes"]) as proc:
        assert proc.stdout is not None
        proc.stdout.read(10)
        raise ValueError("reader gave up")


def test_start_joins_stderr_to_stdout_in_order() -> None:
    """A started child's stderr should come on its stdout pipe, in the order it wrote the lines."""
    process = start(["sh", "-c", "echo one; echo two >&2; echo three"])
    assert process.stdout is not None
    with process.stdout:
        assert process.stdout.read() == b"one\ntwo\nthree\n"
    assert process.wait() == 0


def test_start_new_session_leaves_our_session() -> None:
    """With new_session the child should lead a session of its own (a terminal's Ctrl-C misses it)."""
    process = start(["sh", "-c", "cat /proc/self/stat"], new_session=True)
    assert process.stdout is not None
    with process.stdout:
        fields = process.stdout.read().decode().rpartition(")")[2].split()
    process.wait()
    assert int(fields[3]) == process.pid and int(fields[3]) != os.getsid(0)


def test_start_of_a_missing_program_is_one_build_error() -> None:
    """A program that does not exist should be one BuildError naming it, with the hint given."""
    with pytest.raises(BuildError, match="cannot run /nonexistent/qemu: not found") as info:
        start(["/nonexistent/qemu"], hint="apt-get install qemu-system-x86")
    assert info.value.hint == "apt-get install qemu-system-x86"
