"""The builder's typed error: lower layers raise it, only the ``cmd_*`` verbs exit."""

from docker_from_scratch.launcher.errors import LaunchError


class BuildError(LaunchError):
    """A build step failed; ``hint`` names the fix."""
