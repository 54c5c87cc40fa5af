"""The builder's one door for subprocesses: explicit environment, stdin from /dev/null.

Failures become :class:`BuildError` carrying the command's last stderr line, so the
verb prints one line that says what failed.
"""

import os
import shlex
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from docker_from_scratch.builder.errors import BuildError
from docker_from_scratch.errors import describe_status


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
    the returned text is empty. ``explain`` reads the whole stderr of a failure and may
    return a clearer error than the last line (apt's expired Release file).
    """
    args = [os.fspath(a) for a in argv]
    full_env = dict(os.environ if env is None else env)
    # stderr goes to a file: a chatty tool cannot block on a full pipe while we stream stdout.
    with tempfile.TemporaryFile(mode="w+") as errors_file:
        try:
            proc = subprocess.Popen(
                args,
                env=full_env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=errors_file,
                text=True,
            )
        except FileNotFoundError as exc:
            raise BuildError(f"cannot run {args[0]}: not found", hint=hint) from exc
        assert proc.stdout is not None
        if on_line is None:
            output = proc.stdout.read()
        else:
            output = ""
            for line in proc.stdout:
                on_line(line.rstrip("\n"))
        proc.wait()
        errors_file.seek(0)
        errors = errors_file.read()
    if proc.returncode != 0:
        better = explain(errors) if explain is not None else None
        if better is not None:
            raise better
        lines = [line for line in errors.strip().splitlines() if line.strip()]
        last = f": {lines[-1]}" if lines else ""
        raise BuildError(f"{shlex.join(args)} failed with {describe_status(proc.returncode)}{last}", hint=hint)
    return output
