"""The one door for subprocesses: explicit environment, stdin from /dev/null, logged argv."""

import os
import shlex
import signal
import subprocess
from collections.abc import Mapping, Sequence

from docker_from_scratch.launcher import log
from docker_from_scratch.launcher.errors import LaunchError


def describe_status(returncode: int) -> str:
    """Turn a returncode into words: 'exit status 3', 'killed by SIGKILL', 'not found'."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    if returncode == 127:
        return "exit status 127 (command not found)"
    return f"exit status {returncode}"


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    capture: bool = True,
    timeout: float | None = 60,
) -> subprocess.CompletedProcess[str]:
    """Run argv to completion; on failure with ``check`` raise LaunchError with its stderr."""
    log.debug(f"run: {shlex.join(argv)}")
    try:
        result = subprocess.run(
            list(argv),
            env=dict(os.environ if env is None else env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE if capture else None,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise LaunchError(f"cannot run {argv[0]}: not found", hint="install it or fix PATH") from exc
    except subprocess.TimeoutExpired as exc:
        raise LaunchError(f"{shlex.join(argv)} did not finish within {timeout} s") from exc
    if check and result.returncode != 0:
        detail = (result.stderr or "").strip().splitlines()
        last = f": {detail[-1]}" if detail else ""
        raise LaunchError(f"{shlex.join(argv)} failed with {describe_status(result.returncode)}{last}")
    return result
