"""launcher/undo.py: the steps' undo list (what contextlib.ExitStack did for them)."""

from types import TracebackType

import pytest

from docker_from_scratch.launcher.errors import LaunchError
from docker_from_scratch.launcher.undo import Undo


class Recorder:
    """A context manager that notes its enter and the failure its exit saw."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def __enter__(self) -> str:
        self.log.append("enter")
        return "entered"

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.log.append(f"exit {kind.__name__ if kind else None}")


def test_undo_runs_callbacks_in_reverse_when_the_block_fails() -> None:
    """A failing block should undo its actions last first, then raise its own failure."""
    done: list[str] = []
    with pytest.raises(LaunchError, match="step failed"), Undo() as undo:
        undo.callback(done.append, "first")
        undo.callback(done.append, "second")
        raise LaunchError("step failed")
    assert done == ["second", "first"]


def test_undo_pop_all_keeps_everything() -> None:
    """pop_all should leave every registered action undone at the end of the block."""
    done: list[str] = []
    with Undo() as undo:
        undo.callback(done.append, "undone")
        undo.pop_all()
    assert done == []


def test_undo_enter_context_hands_the_failure_to_exit() -> None:
    """enter_context should enter at once and give the manager's exit the block's failure."""
    log: list[str] = []
    with pytest.raises(LaunchError), Undo() as undo:
        assert undo.enter_context(Recorder(log)) == "entered"
        raise LaunchError("later step")
    assert log == ["enter", "exit LaunchError"]


def test_undo_step_failure_wins_over_a_failing_undo() -> None:
    """When the block and an undo action both fail, the block's failure should be raised, every action run."""
    done: list[str] = []

    def broken() -> None:
        raise OSError("undo failed")

    with pytest.raises(LaunchError, match="step failed"), Undo() as undo:
        undo.callback(done.append, "still run")
        undo.callback(broken)
        raise LaunchError("step failed")
    assert done == ["still run"]


def test_undo_failing_action_alone_is_raised() -> None:
    """An undo action that fails after a block that did not should raise its failure."""

    def broken() -> None:
        raise OSError("undo failed")

    with pytest.raises(OSError, match="undo failed"), Undo() as undo:
        undo.callback(broken)
