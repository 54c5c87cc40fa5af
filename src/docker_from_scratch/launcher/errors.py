"""Typed errors: lower layers raise these, only the CLI turns them into an exit."""


class LaunchError(Exception):
    """A failure the user can fix; ``hint`` says how."""

    exit_status = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        if self.hint:
            return f"{self.message} (hint: {self.hint})"
        return self.message


class UsageError(LaunchError):
    """Bad command line or environment; exits 2 before anything is changed."""

    exit_status = 2
