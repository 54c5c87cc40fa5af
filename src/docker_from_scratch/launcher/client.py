"""``docker-entrypoint.sh``: docker:dind's client side, so the image is also the job image.

A CI job runs ``docker run --link daemon:docker -v certs:/certs IMAGE docker ps`` (or
``--entrypoint docker-entrypoint.sh``) and its ``docker`` finds the daemon without any
DOCKER_* variable. The decision, as docker:dind's ``docker-entrypoint.sh`` takes it (facts
read from docker-library/docker):

    DOCKER_HOST   /var/run/docker.sock   client certificates   result
    -----------   --------------------   -------------------   ---------------------------------
    unset         a socket               any                   unix:///var/run/docker.sock
    unset         no socket              present               tcp://docker:2376 + TLS variables
    unset         no socket              absent                tcp://docker:2375
    tcp://...     any                    present               + TLS variables unless already set
    any other     any                    any                   left alone

"client certificates present" means DOCKER_TLS_CERTDIR is set and its ``client/ca.pem``,
``cert.pem`` and ``key.pem`` are non-empty; "TLS variables" are DOCKER_TLS_VERIFY=1 and
DOCKER_CERT_PATH=$DOCKER_TLS_CERTDIR/client. A DOCKER_TLS_VERIFY of the user's picks 2376
too, as in docker:dind.

The command: a first argument that starts with ``-`` or that the docker CLI knows as a
subcommand (``docker help ARG`` succeeds: ``IMAGE ps`` is ``docker ps``) runs through
``docker``; anything else runs as given. ``dockerd`` as the first word starts the daemon
through the launcher, so ``--entrypoint docker-entrypoint.sh IMAGE dockerd`` still works.
Written in Python, not sh: the slim image has no shell, and the interpreter is there anyway.
"""

from __future__ import annotations

import os
import stat
import sys

from docker_from_scratch.launcher import log
from docker_from_scratch.launcher.dind import PLAIN_PORT, TLS_PORT
from docker_from_scratch.launcher.errors import LaunchError, UsageError
from docker_from_scratch.requirements.layout import DOCKER_SOCKET, ENTRYPOINT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import NoReturn

NAME = "docker-entrypoint.sh"
DAEMON_HOST = "docker"  # the name --link daemon:docker or a CI service alias gives
CLIENT_FILES = ("ca.pem", "cert.pem", "key.pem")


def client_certificates(env: Mapping[str, str]) -> str | None:
    """The client certificate directory when all three files are there and non-empty."""
    certdir = env.get("DOCKER_TLS_CERTDIR", "")
    if not certdir:
        return None
    client = os.path.join(certdir, "client")
    for name in CLIENT_FILES:
        try:
            if os.stat(os.path.join(client, name)).st_size == 0:
                return None
        except OSError:
            return None
    return client


def is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def client_environment(env: Mapping[str, str], *, socket: bool, certificates: str | None) -> dict[str, str]:
    """The environment the client runs with (the table above); ``env`` is not changed."""
    result = dict(env)
    if not result.get("DOCKER_HOST"):
        if socket:
            result["DOCKER_HOST"] = f"unix://{DOCKER_SOCKET}"
        elif certificates is not None or result.get("DOCKER_TLS_VERIFY"):
            result["DOCKER_HOST"] = f"tcp://{DAEMON_HOST}:{TLS_PORT}"
        else:
            result["DOCKER_HOST"] = f"tcp://{DAEMON_HOST}:{PLAIN_PORT}"
    tls_unset = not result.get("DOCKER_TLS_VERIFY") and not result.get("DOCKER_CERT_PATH")
    if result["DOCKER_HOST"].startswith("tcp:") and certificates is not None and tls_unset:
        result["DOCKER_TLS_VERIFY"] = "1"
        result["DOCKER_CERT_PATH"] = certificates
    return result


def for_client(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with DOCKER_HOST (and the TLS variables) chosen by the table above."""
    return client_environment(env, socket=is_socket(DOCKER_SOCKET), certificates=client_certificates(env))


def command(argv: list[str], env: Mapping[str, str]) -> list[str]:
    """What runs: through ``docker`` for options and docker subcommands, else as given."""
    if not argv:
        raise UsageError(f"{NAME} needs a command", hint=f"e.g. {NAME} docker ps")
    first = argv[0]
    if first == "dockerd":
        return [*ENTRYPOINT, *argv[1:]]
    if first.startswith("-"):
        return ["docker", *argv]
    if first != "docker" and "/" not in first:
        from docker_from_scratch.launcher import run

        # docker:dind asks the CLI itself, so every subcommand and plugin counts.
        if run.run(["docker", "help", first], env=env, check=False, timeout=30).returncode == 0:
            return ["docker", *argv]
    return argv


def main(argv: list[str] | None = None) -> NoReturn:
    argv = sys.argv[1:] if argv is None else argv
    try:
        from docker_from_scratch.launcher import files

        env = dict(os.environ)
        env["PATH"] = files.extend_path(env.get("PATH", ""))
        env = for_client(env)
        to_run = command(argv, env)
        log.debug(f"{NAME}: DOCKER_HOST={env['DOCKER_HOST']}, running {to_run[0]}")
        try:
            os.execvpe(to_run[0], to_run, env)
        except OSError as exc:
            raise LaunchError.from_os(f"run {to_run[0]}", exc, hint="check the command's name and PATH") from exc
    except LaunchError as exc:
        log.error(exc.one_line())
        sys.exit(exc.exit_status)
