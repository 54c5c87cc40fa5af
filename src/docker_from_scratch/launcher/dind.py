"""docker:dind's command-line convention, as data: what to run and which defaults to add.

The official image's entry point decides from its arguments alone (facts read from
docker-library/docker, ``dind/dockerd-entrypoint.sh``):

    arguments                          docker:dind                  this module
    ---------------------------------  ---------------------------  ---------------------------
    none, or the first starts with -   dockerd + defaults + args    the same
    first is ``dockerd``               dockerd + args (no defaults) dockerd + defaults + args
    anything else                      run it (via the CLI script)  run it as is

    defaults: --host=unix:///var/run/docker.sock (or $DOCKER_HOST when it is unix://...)
              DOCKER_TLS_CERTDIR set:   --host=tcp://0.0.0.0:2376 --tlsverify
                                        --tlscacert/--tlscert/--tlskey $DIR/server/...
              DOCKER_TLS_CERTDIR='':    --host=tcp://0.0.0.0:2375 (we add --tls=false)

Three choices differ from docker:dind, on purpose:

* ``dockerd`` (or a path ending in ``/dockerd``) as the first argument gets the defaults
  too. Our image's entry point always names the daemon, so without this a plain
  ``docker run ... IMAGE dockerd --debug`` would lose the ports a CI job connects to.
* No defaults when the user names a host (``-H``/``--host``). docker:dind adds its
  hosts anyway when the arguments start with ``-``. A user who lists hosts has chosen
  where the daemon listens: adding ours would open a TCP port they did not ask for, or
  a second listener on an address they already gave. The common sidecar form
  ``dockerd --host=unix:///run/docker/docker.sock`` behaves exactly as on docker:dind,
  where an explicit ``dockerd`` gets no defaults either.
* ``--tls=false`` with port 2375. DOCKER_TLS_CERTDIR='' is the user's explicit choice of
  no TLS; without the flag dockerd 20.10-26.x sleeps 15 s before it listens on a TCP
  port without TLS (moby cmd/dockerd, loadListeners / checkTLSAuthOK; measured here:
  the 2375 service answered after 18 s instead of 3 s), and announces a hard failure
  for later releases. A user's own --tlsverify still turns TLS on (dockerd lets it win).

DOCKER_TLS_CERTDIR unset is read as the image default, ``/certs``: only an explicit
empty string turns TLS off (docker:dind's shell test treats unset like empty, but its
image always sets it; the same launcher on another base image must not silently open
an unauthenticated root API on 0.0.0.0:2375).

``plan`` only decides: it reads no files and starts nothing, so the CLI can log the
decision, then make certificates (``tls.ensure_certificates``) and exec.
"""

from __future__ import annotations

import os

from docker_from_scratch.launcher.errors import UsageError
from docker_from_scratch.requirements.layout import DOCKER_SOCKET
from docker_from_scratch.requirements.record import Record

TYPE_CHECKING = False  # typing and dataclasses cost ~20 ms to import here: annotations only
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Literal

DEFAULT_TLS_CERTDIR = "/certs"
TLS_PORT = 2376
PLAIN_PORT = 2375
# dockerd's boolean shorthand flags (-D debug, -v version, -h help): they may share one
# "-DH tcp://..." cluster with -H, so the host scan walks past them.
_BOOL_SHORTHANDS = frozenset("Dvh")


class Plan(Record):
    """What the launcher runs: ``argv`` (program first) and what it prepares before."""

    __slots__ = ("action", "argv", "defaults", "reason", "socket_path", "tls_certdir", "tls_san")

    def __init__(
        self,
        *,
        action: Literal["dockerd", "exec"],
        argv: tuple[str, ...],
        tls_certdir: str | None,
        tls_san: str,
        defaults: tuple[str, ...],
        socket_path: str | None,
        reason: str,
    ) -> None:
        self.action = action
        self.argv = argv
        # Make (or verify) certificates here before starting dockerd; None: no TLS step.
        self.tls_certdir = tls_certdir
        # DOCKER_TLS_SAN, handed to tls.ensure_certificates unchanged.
        self.tls_san = tls_san
        # The arguments plan() put in front of the user's, for the log (empty: none).
        self.defaults = defaults
        # The unix socket dockerd will answer on (for ping and the health check), if known.
        self.socket_path = socket_path
        # One line for the log: why this shape was chosen.
        self.reason = reason

    def describe(self) -> str:
        if self.action == "exec":
            return f"exec {self.argv[0]} ({self.reason})"
        added = " ".join(self.defaults) if self.defaults else "no default hosts"
        return f"{self.argv[0]} with {added} ({self.reason})"


def is_dockerd(word: str) -> bool:
    """True for ``dockerd`` and any path to it (``/usr/bin/dockerd``)."""
    return word == "dockerd" or word.endswith("/dockerd")


def names_host(args: Sequence[str]) -> bool:
    """True when dockerd arguments set a listening host: -H X, -HX, --host[=X], -DH X."""
    for arg in args:
        if arg == "--":
            return False
        if arg == "--host" or arg.startswith("--host="):
            return True
        if arg.startswith("-") and not arg.startswith("--"):
            for letter in arg[1:]:
                if letter == "H":
                    return True
                if letter not in _BOOL_SHORTHANDS:
                    break  # a value-taking shorthand: the rest of the word is its value
    return False


def unix_socket(env: Mapping[str, str]) -> str:
    """The socket path for the default host: $DOCKER_HOST only when it is unix://PATH."""
    docker_host = env.get("DOCKER_HOST", "")
    if not docker_host.startswith("unix://"):
        return DOCKER_SOCKET
    path = docker_host.removeprefix("unix://")
    if not path:
        raise UsageError(
            "DOCKER_HOST=unix:// names no socket path",
            hint="set DOCKER_HOST=unix:///var/run/docker.sock or unset it",
        )
    return path


def tls_certdir(env: Mapping[str, str]) -> str | None:
    """$DOCKER_TLS_CERTDIR (unset means /certs); None when it is the empty string."""
    certdir = env.get("DOCKER_TLS_CERTDIR", DEFAULT_TLS_CERTDIR)
    if certdir == "":
        return None
    if not certdir.startswith("/"):
        raise UsageError(
            f"DOCKER_TLS_CERTDIR={certdir!r} is not an absolute path",
            hint="use an absolute path such as /certs, or DOCKER_TLS_CERTDIR='' for no TLS",
        )
    return certdir.rstrip("/") or "/"


def default_arguments(env: Mapping[str, str]) -> tuple[str, ...]:
    """docker:dind's default dockerd arguments for this environment."""
    hosts = (f"--host=unix://{unix_socket(env)}",)
    certdir = tls_certdir(env)
    if certdir is None:
        return (*hosts, f"--host=tcp://0.0.0.0:{PLAIN_PORT}", "--tls=false")
    server = os.path.join(certdir, "server")
    return (
        *hosts,
        f"--host=tcp://0.0.0.0:{TLS_PORT}",
        "--tlsverify",
        "--tlscacert", os.path.join(server, "ca.pem"),
        "--tlscert", os.path.join(server, "cert.pem"),
        "--tlskey", os.path.join(server, "key.pem"),
    )  # fmt: skip


def _first_unix_host(args: Sequence[str]) -> str | None:
    """The path of the first unix:// host among dockerd arguments, if any."""
    words = list(args)
    for index, arg in enumerate(words):
        value = None
        if arg.startswith("--host="):
            value = arg.removeprefix("--host=")
        elif arg.startswith("-H") and len(arg) > 2:
            value = arg[2:].removeprefix("=")
        elif arg in ("-H", "--host") and index + 1 < len(words):
            value = words[index + 1]
        if value is not None and value.startswith("unix://") and len(value) > len("unix://"):
            return value.removeprefix("unix://")
    return None


def plan(argv: Sequence[str], env: Mapping[str, str], *, dockerd: str = "dockerd") -> Plan:
    """Decide, like docker:dind's entry point, what to run for the container's command.

    ``argv`` is the container's command as docker:dind would receive it: for our image,
    the words after DOCKER_BINARY (the ENTRYPOINT's ``/usr/bin/dockerd``) with the seed's
    leading ``docker``/``daemon`` words dropped (``args.drop_seed_words``):

        dockerlaunch /usr/bin/dockerd                       -> plan([])
        dockerlaunch /usr/bin/dockerd daemon -s overlay     -> plan(["-s", "overlay"])
        dockerlaunch /usr/bin/docker daemon -s overlay      -> plan(["-s", "overlay"])
        dockerlaunch /usr/bin/dockerd --bip 192.0.2.1/24 -b br0
                                                            -> plan(["--bip", ..., "-b", "br0"])
        dockerlaunch /usr/bin/dockerd dockerd --debug       -> plan(["dockerd", "--debug"])
        dockerlaunch /usr/bin/dockerd sh -c 'docker ps'     -> plan(["sh", "-c", ...]): exec

    ``dockerd`` is the daemon run when ``argv`` holds only options (the resolved
    DOCKER_BINARY); a ``dockerd`` word in ``argv`` itself is kept as the program. The
    user's options come after the defaults, untouched (seed rewrites such as
    ``-s overlay`` -> ``--storage-driver overlay2`` are the caller's, before or after).
    Raises UsageError for a malformed DOCKER_HOST or DOCKER_TLS_CERTDIR.
    """
    args = list(argv)
    if args and not args[0].startswith("-") and not is_dockerd(args[0]):
        return Plan(
            action="exec",
            argv=tuple(args),
            tls_certdir=None,
            tls_san="",
            defaults=(),
            socket_path=None,
            reason=f"{args[0]!r} is neither an option nor dockerd",
        )
    if args and is_dockerd(args[0]):
        program, options = args[0], args[1:]
        shape = f"first argument is {args[0]}"
    else:
        program, options = dockerd, args
        shape = "no arguments" if not args else "arguments start with an option"
    certdir = tls_certdir(env)
    tls_san = env.get("DOCKER_TLS_SAN", "")
    if names_host(options):
        return Plan(
            action="dockerd",
            argv=(program, *options),
            tls_certdir=certdir,
            tls_san=tls_san,
            defaults=(),
            socket_path=_first_unix_host(options),
            reason=f"{shape}; the user names the hosts, so none are added",
        )
    defaults = default_arguments(env)
    mode = f"TLS on {TLS_PORT}" if certdir else f"no TLS on {PLAIN_PORT}, DOCKER_TLS_CERTDIR=''"
    return Plan(
        action="dockerd",
        argv=(program, *defaults, *options),
        tls_certdir=certdir,
        tls_san=tls_san,
        defaults=defaults,
        socket_path=unix_socket(env),
        reason=f"{shape}; default hosts added, {mode}",
    )
