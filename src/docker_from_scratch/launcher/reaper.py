"""Supervise dockerd as a child: reap every zombie, forward signals, pass on the exit status.

Used in reap mode when docker-init (tini) is not in the image, and on a bare kernel where
PID 1 must also power the machine off after dockerd stops (tini cannot). Where docker-init
exists the launcher execs it instead: it stays resident at ~1 MB, a sleeping CPython at
~12.5 MB (measured on these machines).
"""

from __future__ import annotations

import contextlib
import os
import signal

from docker_from_scratch.launcher import log, syscalls

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

FORWARDED = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)


def exit_status(wait_status: int) -> int:
    """The shell's convention: the exit code, or 128 + signal number when killed."""
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return os.waitstatus_to_exitcode(wait_status)


def supervise(
    argv: Sequence[str],
    env: dict[str, str],
    *,
    on_signal: Callable[[int], None] | None = None,
    start: Callable[[], int] | None = None,
) -> int:
    """Start argv as a child and reap until it exits; return its exit status.

    ``on_signal`` sees each forwarded signal first (PID 1 on a bare kernel notes that a
    power-off was asked for). ``start``, when given, starts the child instead of
    posix_spawn and returns its pid (PID 1 on a bare kernel forks the launcher); it runs
    with :data:`FORWARDED` blocked, so a forked child must restore their default
    handlers and unblock them (see :func:`default_signals`).
    """
    if os.getpid() != 1:
        # Orphans of dockerd's tree (containerd-shims' exited children) are re-parented
        # to the nearest subreaper instead of to PID 1, which may not be us (--pid=host).
        syscalls.set_child_subreaper()
    child = 0

    def forward(signum: int, _frame: object) -> None:
        if on_signal is not None:
            on_signal(signum)
        if child:
            log.debug(f"forwarding {signal.Signals(signum).name} to {child}")
            # It may have exited between our wait and this signal: nothing to forward then.
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signum)

    for signum in FORWARDED:
        signal.signal(signum, forward)
    # Hold the signals until the child's pid is known, so none is lost in between;
    # the child starts with an empty mask.
    signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    try:
        child = start() if start is not None else os.posix_spawn(argv[0], list(argv), env, setsigmask=())
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
    log.debug(f"supervising {argv[0]} as pid {child}")
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return 1  # cannot happen while the child lives; be safe
        if pid == child:
            child = 0  # reaped: its pid may be reused, so no signal goes there any more
            code = exit_status(status)
            log.debug(f"{argv[0]} exited: status {code}")
            _reap_remaining()
            return code
        log.debug(f"reaped orphan {pid}")


def default_signals() -> None:
    """In a forked child: the forwarded signals as a fresh interpreter has them, none blocked.

    SIGINT raises KeyboardInterrupt again (Python's own default), so a launcher stopped
    before its exec unwinds its context managers (mounts, started processes).
    """
    for signum in FORWARDED:
        signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, ())


def _reap_remaining() -> None:
    """Collect zombies that are already there, without waiting for live processes."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
