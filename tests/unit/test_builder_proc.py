"""The builder's one door for subprocesses: its failures as one line, in words."""

import pytest

from docker_from_scratch.builder.errors import BuildError
from docker_from_scratch.builder.proc import run_tool, spawn
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
