"""The one door for subprocesses: explicit environment, stdin from /dev/null, logged argv.

Built on ``os.posix_spawn`` and ``select.poll`` rather than ``subprocess``: importing
subprocess (with threading, selectors, signal's enums, shlex's re) costs ~14 ms inside the
image, a third of the launcher's start-up budget, for the short programs it runs
(iptables, modprobe). What it needs is small: spawn with a PATH of our choosing,
collect stdout and stderr without deadlock, give up after a timeout. ``Forked`` runs
such waits side by side (the TLS certificates beside the other steps), ``Background``
the resident launcher's waits.
"""

from __future__ import annotations

import os

from docker_from_scratch.errors import describe_status
from docker_from_scratch.launcher import log
from docker_from_scratch.launcher.errors import LaunchError, UsageError
from docker_from_scratch.requirements.paths import DEFAULT_SEARCH_PATH, find_program
from docker_from_scratch.requirements.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

_CHUNK = 65536


class Completed(Record):
    """What a finished program left: its argv, exit code (-N: killed by signal N), output."""

    __slots__ = ("argv", "returncode", "stderr", "stdout")

    def __init__(self, argv: list[str], returncode: int, stdout: str, stderr: str) -> None:
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr

    def last_words(self) -> str:
        """The last line of its stderr, else its exit status in words (for a warning)."""
        lines = self.stderr.strip().splitlines()
        return lines[-1] if lines else describe_status(self.returncode)


def _command_line(argv: Sequence[str]) -> str:
    import shlex  # imports re: only for the debug log

    return shlex.join(argv)


def _collect(pid: int, descriptors: dict[int, list[bytes]], timeout: float | None, argv: Sequence[str]) -> None:
    """Read the pipes until both close; kill the child when ``timeout`` passes first."""
    import select
    import time

    poller = select.poll()
    for descriptor in descriptors:
        poller.register(descriptor, select.POLLIN | select.POLLHUP)
    deadline = None if timeout is None else time.monotonic() + timeout
    open_pipes = set(descriptors)
    while open_pipes:
        wait_ms = None if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
        events = poller.poll(wait_ms)
        if not events and deadline is not None and time.monotonic() >= deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            raise LaunchError(f"{_command_line(argv)} did not finish within {timeout} s")
        for descriptor, _ in events:
            data = os.read(descriptor, _CHUNK)
            if data:
                descriptors[descriptor].append(data)
            else:
                poller.unregister(descriptor)
                open_pipes.discard(descriptor)


def _kill_and_reap(pid: int) -> None:
    """SIGKILL our child ``pid`` and reap it, unless it is reaped already. Asked first
    with WNOHANG: until we reap it the pid stays ours, so the kill cannot hit another
    process that got the number after it."""
    try:
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            return  # it had exited: reaped just now
    except ChildProcessError:
        return  # reaped before (a timed-out wait kills and reaps)
    os.kill(pid, 9)
    os.waitpid(pid, 0)


def _spawn(argv: Sequence[str], env: Mapping[str, str] | None, stdout: int, stderr: int) -> int:
    """posix_spawn argv (found on env's PATH) with stdin from /dev/null and the given
    write ends as stdout and stderr, which are closed here; return the pid."""
    try:
        environment = dict(os.environ if env is None else env)
        if log.debug_enabled():
            log.debug(f"run: {_command_line(argv)}")
        program = find_program(argv[0], environment.get("PATH", DEFAULT_SEARCH_PATH))
        if program is None:
            raise LaunchError(f"cannot run {argv[0]}: not found", hint="install it or fix PATH")
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, stdout, 1),
            (os.POSIX_SPAWN_DUP2, stderr, 2),
        ]
        try:
            return os.posix_spawn(program, list(argv), environment, file_actions=actions)
        except OSError as exc:
            raise LaunchError(f"cannot run {argv[0]}: {exc.strerror}", hint="install it or fix PATH") from exc
    finally:
        os.close(stdout)
        if stderr != stdout:
            os.close(stderr)


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float | None = 60,
) -> Completed:
    """Run argv to completion with stdout and stderr captured; on failure with ``check``
    raise LaunchError with the last line of its stderr."""
    return Started(argv, env=env).wait(check=check, timeout=timeout)


class Started:
    """A program started now and collected later by ``wait`` (what ``run`` does at once):
    a probe started early runs beside the steps before the one that needs its answer.
    Collected once: a later ``wait`` (an undo after the step's own) returns the same result."""

    def __init__(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> None:
        self.argv = list(argv)
        self._result: Completed | None = None
        self._waited = False
        self._out, out_write = os.pipe()  # os.pipe() is close-on-exec: the child keeps only its dup2 copies
        self._err, err_write = os.pipe()
        try:
            self._pid = _spawn(argv, env, out_write, err_write)
        except BaseException:
            os.close(self._out)
            os.close(self._err)
            raise

    def wait(self, *, check: bool = True, timeout: float | None = 60) -> Completed:
        """Collect the output and the exit (``timeout`` counts from now); see ``run``."""
        result = self._result
        if result is None:
            if self._waited:  # the first wait failed, and killed and reaped the child
                raise LaunchError(f"{_command_line(self.argv)} was not collected: its first wait failed")
            self._waited = True
            try:
                output: dict[int, list[bytes]] = {self._out: [], self._err: []}
                _collect(self._pid, output, timeout, self.argv)
                _, status = os.waitpid(self._pid, 0)
            except BaseException:  # a timeout (already killed) or a signal: nothing outlives it
                _kill_and_reap(self._pid)
                raise
            finally:
                os.close(self._out)
                os.close(self._err)
            result = self._result = Completed(
                self.argv,
                os.waitstatus_to_exitcode(status),
                b"".join(output[self._out]).decode(errors="replace"),
                b"".join(output[self._err]).decode(errors="replace"),
            )
        if check and result.returncode != 0:
            detail = result.stderr.strip().splitlines()
            last = f": {detail[-1]}" if detail else ""
            raise LaunchError(f"{_command_line(self.argv)} failed with {describe_status(result.returncode)}{last}")
        return result

    def stop(self) -> None:
        """Kill it if it still runs, and reap it: for an answer no step will take (a step
        before the one that needed it failed), so a failure is reported at once."""
        if self._waited:
            return
        self._waited = True
        _kill_and_reap(self._pid)
        os.close(self._out)
        os.close(self._err)


def stream(argv: Sequence[str], on_output: Callable[[bytes], None], *, env: Mapping[str, str] | None = None) -> int:
    """Run argv with stdout and stderr merged, handing each chunk to ``on_output`` as it
    arrives (a boot command's output on the console); return its exit code (-N: signal N).
    Raise LaunchError when it cannot start."""
    read_end, write_end = os.pipe()
    try:
        pid = _spawn(argv, env, write_end, write_end)
        while data := os.read(read_end, _CHUNK):
            on_output(data)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(read_end)
    return os.waitstatus_to_exitcode(status)


class Background:
    """A function run in a thread; ``join`` waits and re-raises what it raised."""

    def __init__(self, function: Callable[[], None]) -> None:
        import threading

        self._error: BaseException | None = None
        self._function = function
        # Not a daemon thread: a launcher that stops on a later error still lets the
        # certificates finish writing (no half-written files on the volume).
        self._thread = threading.Thread(target=self._run)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._function()
        except BaseException as exc:  # handed to the launcher's main thread in join()
            self._error = exc

    def join(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error


# The kinds of failure a Forked child hands back, and how join raises them again.
_FAILURE_KINDS = {"usage": UsageError, "launch": LaunchError}


class Forked:
    """A function run in a forked child; ``join`` waits for it and raises what it raised.

    Instead of a thread for the start-up's own work beside the steps (the certificates):
    importing threading costs ~4 ms inside the image and a thread shares the GIL with
    the steps, where a child runs its Python on the other core. What it raised comes
    back through a pipe as one line: LaunchError and UsageError with their hints,
    OSError with its errno and file name, anything else as a LaunchError naming it.
    The child shares nothing else with us: it ends in os._exit, whatever happens, so it
    never unwinds into the launcher's own steps.
    """

    def __init__(self, function: Callable[[], None]) -> None:
        # _signal, the C module: ``signal`` wraps it in enums, and enum with functools and
        # collections is ~10 ms of imports inside the image, for three constants.
        if TYPE_CHECKING:  # typeshed describes the module under its public name only
            import signal
        else:
            import _signal as signal

        read_end, write_end = os.pipe()
        # Blocked across the fork: a Ctrl-C landing in the child before its try below
        # would unwind the launcher's steps there (unmounting what the parent still uses).
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
        try:
            pid = os.fork()
        except BaseException:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            os.close(read_end)
            os.close(write_end)
            raise
        if pid == 0:  # the child
            status = 1
            try:
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a pending signal lands in this try
                os.close(read_end)
                try:
                    function()
                    status = 0
                except BaseException as exc:
                    os.write(write_end, _describe_failure(exc).encode(errors="replace"))
            finally:
                os._exit(status)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.close(write_end)
        self._pid = pid
        self._read = read_end
        self._joined = False

    def join(self) -> None:
        if self._joined:  # once: a second join (an undo after the step's own) has nothing to wait for
            return
        self._joined = True
        chunks = []
        try:
            while data := os.read(self._read, _CHUNK):
                chunks.append(data)
        finally:
            os.close(self._read)
        _, status = os.waitpid(self._pid, 0)
        if status == 0:
            return
        kind, _, rest = b"".join(chunks).decode(errors="replace").partition("\0")
        if kind == "os":
            number, filename, text = rest.split("\0", 2)
            raise OSError(int(number), text, filename or None)
        message, _, hint = rest.partition("\0")
        if kind in _FAILURE_KINDS:
            raise _FAILURE_KINDS[kind](message, hint=hint or None)
        ended = describe_status(os.waitstatus_to_exitcode(status))
        raise LaunchError(message or f"the background step ended with {ended}")


def _describe_failure(exc: BaseException) -> str:
    """What Forked's child raised, NUL-separated: kind, then its fields."""
    if isinstance(exc, LaunchError):
        kind = "usage" if isinstance(exc, UsageError) else "launch"
        return f"{kind}\0{exc.message}\0{exc.hint or ''}"
    if isinstance(exc, OSError):
        return f"os\0{exc.errno or 0}\0{exc.filename or ''}\0{exc.strerror or exc}"
    return f"other\0unexpected {type(exc).__name__} in a background step: {exc}\0"
