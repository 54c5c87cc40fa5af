"""The builder's one door for subprocesses: explicit environment, stdin from /dev/null.

Failures become :class:`BuildError` carrying the command's last stderr line and its
exit status in words ("killed by SIGKILL"), so the verb prints one line that says what
failed. :func:`run_tool` runs to completion and returns the output; :func:`spawn` is for
tools whose output is streamed (a tar read as it comes, a compressor fed chunk by chunk);
:func:`start` for a long-running child its caller supervises and stops (qemu).
"""

import contextlib
import os
import shlex
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

from docker_from_scratch.builder.errors import BuildError
from docker_from_scratch.errors import describe_status

# What a child's stdin or stdout may be: a pipe, /dev/null, or an open file.
Stream = int | IO[bytes]


@contextlib.contextmanager
def spawn(
    argv: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdin: Stream = subprocess.DEVNULL,
    stdout: Stream = subprocess.PIPE,
    hint: str | None = None,
    explain: Callable[[str], BuildError | None] | None = None,
) -> Iterator["subprocess.Popen[bytes]"]:
    """Start argv and yield it (binary pipes); on leaving, wait for it and raise BuildError
    when it failed. When the body raises first, the tool is stopped; its own failure wins
    when it had already failed (a truncated stream is the tool's fault, not the reader's).
    ``explain`` reads the whole stderr of a failure and may return a clearer error than
    the last line (apt's expired Release file)."""
    args = [os.fspath(a) for a in argv]
    full_env = dict(os.environ if env is None else env)
    # stderr goes to a file: a chatty tool cannot block on a full pipe while we read stdout.
    with tempfile.TemporaryFile() as errors_file:
        try:
            proc = subprocess.Popen(
                args, env=full_env, cwd=cwd, stdin=stdin, stdout=stdout, stderr=errors_file
            )  # fmt: skip
        except FileNotFoundError as exc:
            raise BuildError(f"cannot run {args[0]}: not found", hint=hint) from exc
        try:
            yield proc
        except BaseException as exc:
            failed_first = proc.poll() not in (None, 0)
            if not failed_first:
                proc.kill()
            _close(proc)
            proc.wait()
            if failed_first:
                raise _failure(args, proc.returncode, errors_file, hint, explain) from exc
            raise
        _close(proc)
        proc.wait()
        if proc.returncode != 0:
            raise _failure(args, proc.returncode, errors_file, hint, explain)


def _close(proc: "subprocess.Popen[bytes]") -> None:
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):  # BrokenPipeError flushing a dead tool's stdin
                pipe.close()


def _failure(
    args: list[str],
    returncode: int,
    errors_file: IO[bytes],
    hint: str | None,
    explain: Callable[[str], BuildError | None] | None,
) -> BuildError:
    errors_file.seek(0)
    errors = errors_file.read().decode(errors="replace")
    better = explain(errors) if explain is not None else None
    if better is not None:
        return better
    lines = [line for line in errors.strip().splitlines() if line.strip()]
    last = f": {lines[-1]}" if lines else ""
    return BuildError(f"{shlex.join(args)} failed with {describe_status(returncode)}{last}", hint=hint)


def run_tool(
    argv: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    hint: str | None = None,
    on_line: Callable[[str], None] | None = None,
    explain: Callable[[str], BuildError | None] | None = None,
) -> str:
    """Run argv to completion and return its stdout; raise BuildError when it fails.

    With ``on_line`` the standard output is streamed line by line (for progress) and
    the returned text is empty. ``explain``: see :func:`spawn`.
    """
    with spawn(argv, env=env, cwd=cwd, hint=hint, explain=explain) as proc:
        assert proc.stdout is not None
        if on_line is None:
            return proc.stdout.read().decode(errors="replace")
        for line in proc.stdout:
            on_line(line.decode(errors="replace").rstrip("\n"))
    return ""


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when our thread dies, even by SIGKILL (a timeout)."""
    import ctypes

    pr_set_pdeathsig = 1  # <linux/prctl.h>
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)


def start(
    argv: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    new_session: bool = False,
    die_with_parent: bool = False,
    hint: str | None = None,
) -> "subprocess.Popen[bytes]":
    """Start argv with stdin from /dev/null and its stderr joined to its stdout (a pipe, in
    the order it wrote them) and return it: the caller reads, waits for and stops it.

    ``new_session``: a Ctrl-C at the terminal reaches us only, not the child.
    ``die_with_parent``: the kernel kills the child when our thread dies, even by SIGKILL.
    """
    args = [os.fspath(a) for a in argv]
    try:
        return subprocess.Popen(
            args,
            env=dict(os.environ if env is None else env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=new_session,
            preexec_fn=_die_with_parent if die_with_parent else None,
        )
    except FileNotFoundError as exc:
        raise BuildError(f"cannot run {args[0]}: not found", hint=hint) from exc
