"""The host commands' argument parser and their one way to stop: one line, with the fix.

``docker-from-scratch`` on the build host and the image's doctor entry both print
``docker-from-scratch: error: WHAT (hint: FIX)``; argparse's own error prints the usage
as well, which buries the line that matters.
"""

import argparse
import sys
from typing import NoReturn

PROG = "docker-from-scratch"


def die(message: str, *, hint: str | None = None, status: int = 1) -> NoReturn:
    """Print one line, with the fix in parentheses, and exit."""
    suffix = f" (hint: {hint})" if hint else ""
    sys.stderr.write(f"{PROG}: error: {message}{suffix}\n")
    sys.exit(status)


class OneLineParser(argparse.ArgumentParser):
    """argparse's errors as one line naming the fix (its default prints the usage too)."""

    def error(self, message: str) -> NoReturn:
        die(message, hint=f"see {self.prog} --help", status=2)
