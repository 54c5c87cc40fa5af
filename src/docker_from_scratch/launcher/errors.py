"""The launcher's errors: kinds of the package's one :class:`~docker_from_scratch.errors.Error`.

Lower layers raise these, only the launcher's CLI turns them into an exit.
"""

from docker_from_scratch import errors
from docker_from_scratch.errors import Error, describe_errno, describe_status

__all__ = ["LaunchError", "UsageError", "describe_errno", "describe_status"]


class LaunchError(Error):
    """A failure the user can fix; ``hint`` says how."""


class UsageError(LaunchError, errors.UsageError):
    """Bad command line or environment; exits 2 before anything is changed."""
