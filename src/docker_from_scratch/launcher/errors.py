"""Typed errors: lower layers raise these, only the CLI turns them into an exit."""

import errno
import os


def describe_errno(exc: OSError) -> str:
    """'Read-only file system (EROFS)': the words and the name users search for."""
    code = exc.errno or 0
    return f"{os.strerror(code)} ({errno.errorcode.get(code, str(code))})"


class LaunchError(Exception):
    """A failure the user can fix; ``hint`` says how."""

    exit_status = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    @classmethod
    def from_os(cls, what: str, exc: OSError, *, hint: str | None = None) -> "LaunchError":
        """'cannot WHAT: Strerror (ENAME)' for a failed system call."""
        return cls(f"cannot {what}: {describe_errno(exc)}", hint=hint)

    def one_line(self) -> str:
        if self.hint:
            return f"{self.message} (hint: {self.hint})"
        return self.message


class UsageError(LaunchError):
    """Bad command line or environment; exits 2 before anything is changed."""

    exit_status = 2
