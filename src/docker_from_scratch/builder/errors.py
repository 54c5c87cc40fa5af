"""The builder's typed error: lower layers raise it, only the ``cmd_*`` verbs exit."""

from docker_from_scratch.errors import Error


class BuildError(Error):
    """A build step failed; ``hint`` names the fix."""
