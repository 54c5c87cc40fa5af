"""One error base for both rooms: the launcher, the builder and the doctor raise its kinds.

Lower layers raise an :class:`Error` carrying a hint; only a command's ``main`` turns it
into the one line ``PROG: error: WHAT (hint: FIX)`` and its exit status. The descriptions
of errno values and of exit statuses (signals included) live here once, so a failed
system call or program reads the same whichever room it failed in. Standard library
only, and cheap to import: the launcher loads it at every container start.
"""

from __future__ import annotations

import errno
import os

TYPE_CHECKING = False  # typing costs ~8 ms to import; only mypy needs Self
if TYPE_CHECKING:
    from typing import Self


def describe_errno(exc: OSError) -> str:
    """'Read-only file system (EROFS)': the words and the name users search for."""
    code = exc.errno or 0
    return f"{os.strerror(code)} ({errno.errorcode.get(code, str(code))})"


def describe_status(returncode: int) -> str:
    """Turn a returncode into words: 'exit status 3', 'killed by SIGKILL', 'not found'."""
    if returncode < 0:
        import signal  # its enums cost milliseconds: only when something was killed

        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    if returncode == 127:
        return "exit status 127 (command not found)"
    return f"exit status {returncode}"


class Error(Exception):
    """A failure the user can fix; ``hint`` says how, ``exit_status`` is the command's exit."""

    exit_status = 1

    def __init__(self, message: str, *, hint: str | None = None, exit_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_status is not None:
            self.exit_status = exit_status

    @classmethod
    def from_os(cls, what: str, exc: OSError, *, hint: str | None = None) -> Self:
        """'cannot WHAT: Strerror (ENAME)' for a failed system call."""
        return cls(f"cannot {what}: {describe_errno(exc)}", hint=hint)

    def one_line(self) -> str:
        if self.hint:
            return f"{self.message} (hint: {self.hint})"
        return self.message


class UsageError(Error):
    """Bad command line or environment; exits 2 before anything is changed."""

    exit_status = 2
