"""What a step set up, taken back in reverse order if a later part fails.

The part of ``contextlib.ExitStack`` the launcher's steps use (``callback``,
``enter_context``, ``pop_all``), written here because contextlib imports collections
and functools: ~6 ms of every container start inside the image (python -X importtime,
bench/), for a list of callbacks. Standard library only, nothing imported at run time.

One difference: when a step fails and an undo callback fails too, the step's failure
is the one raised (the user can act on it; the undo's failure is logged by the callback
where it matters, e.g. mounts.detach). A failing callback alone is raised.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType
    from typing import Any, Protocol, TypeVar

    T = TypeVar("T", covariant=True)

    class ContextManager(Protocol[T]):
        def __enter__(self) -> T: ...

        def __exit__(
            self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
        ) -> Any: ...

    Exit = Callable[[type[BaseException] | None, BaseException | None, TracebackType | None], object]


class Undo:
    """``with Undo() as undo``: register undo actions; ``pop_all`` keeps everything."""

    def __init__(self) -> None:
        self._exits: list[Exit] = []

    def callback(self, function: Callable[..., object], *args: object) -> None:
        """Call ``function(*args)`` when the block ends with the actions not popped."""
        self._exits.append(lambda kind, error, trace: function(*args))

    def enter_context(self, manager: ContextManager[T]) -> T:
        """Enter ``manager`` now; its ``__exit__`` runs (with the failure) when undone."""
        entered = manager.__enter__()
        self._exits.append(manager.__exit__)
        return entered

    def pop_all(self) -> None:
        """Keep everything registered so far: nothing is undone when the block ends."""
        self._exits = []

    def __enter__(self) -> Undo:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        failure: BaseException | None = None
        while self._exits:
            try:
                self._exits.pop()(kind, error, trace)
            except BaseException as exc:  # every action still runs; see the module docstring
                failure = failure or exc
        if failure is not None and error is None:
            raise failure
