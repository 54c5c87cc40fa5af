"""Logging for the launcher: one prefix, a debug switch, timed nested steps.

Kept to plain ``sys.stderr`` writes: importing ``logging`` costs several milliseconds
at every start, and the launcher logs only a few dozen lines.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

PROG = "dockerlaunch"
_TRUE = {"1", "true", "yes", "on"}
_state = {"debug": os.environ.get("DOCKER_LAUNCH_DEBUG", "").lower() in _TRUE, "depth": 0}


def set_debug(enabled: bool) -> None:
    _state["debug"] = enabled


def debug_enabled() -> bool:
    return bool(_state["debug"])


def _write(level: str, message: str) -> None:
    indent = "  " * int(_state["depth"])
    sys.stderr.write(f"{PROG}: {level}: {indent}{message}\n")
    sys.stderr.flush()


def debug(message: str) -> None:
    if _state["debug"]:
        _write("debug", message)


def info(message: str) -> None:
    _write("info", message)


def warn(message: str) -> None:
    _write("warning", message)


def error(message: str) -> None:
    _write("error", message)


@contextmanager
def step(title: str) -> Iterator[None]:
    """Log a step's start and duration at debug level; nested steps are indented."""
    if not _state["debug"]:
        yield
        return
    debug(f"{title} ...")
    start = time.monotonic()
    _state["depth"] = int(_state["depth"]) + 1
    try:
        yield
    finally:
        _state["depth"] = int(_state["depth"]) - 1
        debug(f"{title}: done in {(time.monotonic() - start) * 1000:.1f} ms")
