"""Stop grace: fit a `docker stop` of the DinD container into the caller's timeout.

On SIGTERM dockerd stops every nested container with that container's own stop timeout
(10 s unless set), then exits. A nested process that ignores SIGTERM (any shell or sleep
as PID 1) therefore takes 10 s, and docker's default 10 s for the DinD container itself
runs out first: the DinD container is SIGKILLed, which is a crash (measured here: 11.4 s,
exit 137). dockerd has no daemon-wide stop timeout, and `--shutdown-timeout` cannot shorten
a container's own one.

So by default, on SIGTERM or SIGINT, the launcher notes every running nested container's
first process, passes the signal on to dockerd, and SIGKILLs whichever of those processes
still runs GRACE seconds later. dockerd's own shutdown does the stopping and records each
container as it exits; asking dockerd to stop them through its API instead would mark them
stopped by the user, and `--restart unless-stopped` containers would then stay down after
the next start (tests/e2e/test_reliability_restart.py). GRACE is derived
from the DinD container's stop budget (docker's default 10 s, or DOCKER_LAUNCH_STOP_TIMEOUT
when the user gave the container a longer ``--stop-timeout``: the container's own config
is not visible inside it, its environment is) minus what dockerd needs after that.

Who waits for the signal must be small, since it waits for the container's whole life:
a tiny POSIX shell runs as docker-init's child, traps the signal, and only then starts
the launcher again (``dockerlaunch --stop-dockerd GRACE PID SIGNAL``) for the expensive
part. The shell is Debian's mksh-static (mksh linked statically, against musl on trixie,
0.24 MB, one file): it touches about 0.3 MB, where dash with glibc is 2.0 MB RSS, most of
it libc and ld.so pages, so docker-init plus the waiter stay under 2 MB RSS (1.05 MB;
the README's Guarantees has the figures). dash is the fallback (a Debian host under `export`). A
resident CPython would cost ~12 MB for the same wait.

`dockerlaunch --stop-nested [S]` is the Kubernetes preStop hook: the kubelet runs it in the
container before it sends SIGTERM, and waits for it. It stops the nested containers through
dockerd's API, since dockerd is not shutting down yet.
"""

from __future__ import annotations

import os
import sys

from docker_from_scratch.launcher import log
from docker_from_scratch.launcher.errors import UsageError
from docker_from_scratch.requirements.paths import find_program

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

# docker stop's default timeout when neither `docker stop -t` nor `--stop-timeout` is set.
DEFAULT_BUDGET_S = 10
# The hook's timeout per nested container when none is given: docker stop's own default.
DEFAULT_PRE_STOP_GRACE = DEFAULT_BUDGET_S
# What a stop needs after the nested containers are gone: the launcher's start at stop
# time (~40 ms), dockerd's own shutdown and containerd's (~1.5 s measured, see the README's
# Guarantees), plus slack for a busy machine.
MARGIN_S = 4
STOP_NESTED = "--stop-nested"
STOP_DOCKERD = "--stop-dockerd"
# The signals the waiter hands to the stop logic (the rest it forwards at once).
STOP_SIGNALS = ("TERM", "INT")
# The waiter shells, in order of preference: the first found on PATH runs WAITER_SCRIPT.
WAITERS = ("mksh-static", "dash")

# The waiter (POSIX sh). The traps come first, so that no signal can find the waiter with
# its default action (which would end it and leave dockerd to the PID namespace's end). A
# signal is forwarded to $! (set the moment dockerd is forked, before any trap can run),
# or kept until then. Every trap sets `interrupted` so that a wait cut short by a signal
# is waited again: dash and mksh keep the child's status, so a second wait returns the
# real exit status even when the child ended during the trap (and a wait on a child
# already reported answers 127: the status seen before it is the real one). Only POSIX
# sh, so that every shell of WAITERS runs it (tests/integration/test_stop_waiter.py). The first TERM or INT
# runs the stop logic, which signals dockerd itself (it forwards the signal if the stop
# logic cannot); later ones, HUP (reload), USR1 (stack dump) and the rest go on at once.
WAITER_SCRIPT = """\
pending=
last=
forward() {
  if [ -n "$!" ]; then kill -"$1" "$!" 2>/dev/null; else pending="$pending $1"; fi
}
stop() {
  trap 'interrupted=1; forward TERM' TERM
  trap 'interrupted=1; forward INT' INT
  if [ -n "$!" ]; then STOP_COMMAND "$!" "$1" || forward "$1"; else pending="$pending $1"; fi
}
trap 'interrupted=1; stop TERM' TERM
trap 'interrupted=1; stop INT' INT
for s in HUP QUIT USR1 USR2; do trap "interrupted=1; forward $s" "$s"; done
"$@" &
pid=$!
for s in $pending; do kill -"$s" "$pid" 2>/dev/null; done
while :; do
  interrupted=
  wait "$pid"
  status=$?
  if [ "$status" -eq 127 ] && [ -n "$last" ]; then exit "$last"; fi
  last=$status
  [ -n "$interrupted" ] || exit "$status"
done
"""


def find_waiter(search_path: str) -> str | None:
    """The first shell of ``WAITERS`` on ``search_path``, or None (the launcher waits itself)."""
    for name in WAITERS:
        found = find_program(name, search_path)
        if found is not None:
            return found
    return None


def grace_for_budget(budget: int) -> int:
    """The nested containers' stop timeout that leaves dockerd ``MARGIN_S`` of ``budget``."""
    return max(1, budget - MARGIN_S)


def _quote(word: str) -> str:
    """One POSIX sh word (shlex.quote would import re, ~5 ms at start-up)."""
    return "'" + word.replace("'", "'\"'\"'") + "'"


def launcher_command() -> list[str]:
    """How this launcher was started (interpreter, its flags, the script or -m module)."""
    original = getattr(sys, "orig_argv", [sys.executable, sys.argv[0]])
    return list(original[: len(original) - len(sys.argv) + 1])


def waiter_argv(
    waiter: str, grace: int, socket_path: str, argv: Sequence[str], *, launcher: Sequence[str] | None = None
) -> list[str]:
    """Run ``argv`` under the small waiter that stops nested containers on SIGTERM/SIGINT.

    At stop time it runs ``DOCKER_HOST=unix://SOCKET dockerlaunch --stop-dockerd GRACE PID SIG``
    (PID and SIG added by the script): the socket dockerd was told to use, whatever
    DOCKER_HOST said at start.
    """
    launcher = launcher_command() if launcher is None else launcher
    words = (*launcher, STOP_DOCKERD, str(grace))
    stop = f"DOCKER_HOST={_quote('unix://' + socket_path)} " + " ".join(_quote(word) for word in words)
    return [waiter, "-c", WAITER_SCRIPT.replace("STOP_COMMAND", stop), "dockerlaunch-waiter", *argv]


def stop_nested_containers(socket_path: str, grace: int) -> int:
    """Stop every running nested container with timeout ``grace``, in parallel.

    Returns how many were asked to stop. Never raises: a dockerd that does not answer
    still gets the forwarded signal afterwards.
    """
    import threading

    from docker_from_scratch.launcher import api

    try:
        ids = api.running_containers(socket_path, timeout=2.0)
    except (OSError, ValueError) as exc:
        log.warn(f"stop grace: cannot list nested containers ({exc}); forwarding the signal only")
        return 0
    log.info(f"stop grace: stopping {len(ids)} nested container(s) with a {grace} s timeout")

    def stop(container: str) -> None:
        try:
            api.request("POST", f"/containers/{container}/stop?t={grace}", socket_path=socket_path, timeout=grace + 5)
        except OSError as exc:
            log.debug(f"stop grace: {container[:12]}: {exc}")

    threads = [threading.Thread(target=stop, args=(container,), daemon=True) for container in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=grace + 5)
    return len(ids)


def _start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat, which tells a process from a later one with its pid
    (None: gone, or a zombie about to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            text = handle.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) ": field 3 onwards
    return None if len(fields) < 20 or fields[0] == "Z" else fields[19]


def nested_processes(socket_path: str) -> list[tuple[int, str]]:
    """(pid, start time) of each running nested container's first process, from dockerd.

    Never raises: without dockerd's answer there is nothing to hold to a deadline.
    """
    import json

    from docker_from_scratch.launcher import api

    found: list[tuple[int, str]] = []
    try:
        for container in api.running_containers(socket_path, timeout=2.0):
            status, body = api.request("GET", f"/containers/{container}/json", socket_path=socket_path, timeout=2.0)
            pid = int(json.loads(body)["State"]["Pid"]) if status == 200 else 0
            start = _start_time(pid) if pid > 0 else None
            if start is not None:
                found.append((pid, start))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warn(f"stop grace: cannot list nested containers ({exc}); dockerd stops them at its own pace")
    return found


def hold_to_deadline(processes: Sequence[tuple[int, str]], grace: float) -> int:
    """Wait until each process has ended or ``grace`` seconds passed; SIGKILL the rest.

    Killing a container's first process ends the container (its PID namespace goes with it);
    dockerd, shutting down, records it as exited. Returns how many were killed.
    """
    import contextlib
    import signal
    import time

    deadline = time.monotonic() + grace
    left = list(processes)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = [(pid, start) for pid, start in left if _start_time(pid) == start]
    for pid, _ in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if left:
        log.info(f"stop grace: killed {len(left)} nested container(s) still running after {grace} s")
    return len(left)


def stop_dockerd(argv: Sequence[str], env: Mapping[str, str]) -> int:
    """`dockerlaunch --stop-dockerd GRACE PID SIGNAL`: the stop waiter's work at stop time.

    Note the nested containers' processes, pass SIGNAL to dockerd (PID), and hold the
    containers to GRACE seconds. Exit 1 only when dockerd could not be signalled (the
    waiter then forwards the signal itself).
    """
    import signal

    from docker_from_scratch.launcher import dind

    if len(argv) != 3 or not argv[0].isdigit() or not argv[1].isdigit() or argv[2] not in STOP_SIGNALS:
        raise UsageError(
            f"{STOP_DOCKERD} takes GRACE PID SIGNAL, not {' '.join(argv)!r}", hint=f"e.g. {STOP_DOCKERD} 6 42 TERM"
        )
    grace, pid = int(argv[0]), int(argv[1])
    processes = nested_processes(dind.unix_socket(env))
    try:
        os.kill(pid, getattr(signal, f"SIG{argv[2]}"))
    except OSError as exc:
        log.warn(f"stop grace: cannot signal dockerd (pid {pid}): {exc}")
        return 1
    log.info(f"stop grace: dockerd stops {len(processes)} nested container(s); any left after {grace} s are killed")
    hold_to_deadline(processes, grace)
    return 0


def pre_stop_grace(argv: Sequence[str]) -> int:
    """The seconds of `--stop-nested [S]`; a UsageError for anything but one whole number."""
    if not argv:
        return DEFAULT_PRE_STOP_GRACE
    if len(argv) == 1 and argv[0].isdigit():
        return int(argv[0])
    raise UsageError(
        f"--stop-nested takes one number of seconds, not {' '.join(argv)!r}",
        hint="use dockerlaunch --stop-nested 20",
    )


def pre_stop(argv: Sequence[str], env: Mapping[str, str]) -> int:
    """`dockerlaunch --stop-nested [S]`: stop the nested containers, return once they stopped.

    dockerd's stop call returns when the container has exited, so this returns when all
    have (each within S seconds, then SIGKILL). A dockerd that does not answer has nothing
    to stop: 0 as well, so the hook (or the stop waiter) never holds up the stop.
    """
    from docker_from_scratch.launcher import api, dind

    grace = pre_stop_grace(argv)
    socket_path = dind.unix_socket(env)
    stopped = stop_nested_containers(socket_path, grace)
    try:
        left = len(api.running_containers(socket_path, timeout=2.0)) if stopped else 0
    except (OSError, ValueError):
        left = 0
    if left:
        log.warn(f"stop grace: {left} nested container(s) still running")
    return 0
