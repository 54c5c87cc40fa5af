"""The builder's one door for subprocesses: its failures as one line, in words."""

import pytest

from docker_from_scratch.builder.errors import BuildError
from docker_from_scratch.builder.proc import run_tool
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
