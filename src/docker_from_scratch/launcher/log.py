"""Logging for the launcher: one prefix, a debug switch, timed nested steps, redaction.

Kept to plain ``sys.stderr`` writes: importing ``logging`` costs several milliseconds
at every start, and the launcher logs only a few dozen lines.

Every line passes one redaction (``redact``) on its way out, whatever its level: the
values of environment variables whose names hold KEY, TOKEN, PASSWORD or SECRET
anywhere, in any case (PGPASSWORD, apiKey, TOKEN1; KEYCLOAK_URL too: a readable value
hidden costs less than a secret shown) become ``***`` wherever they appear (an argv in
a debug line, an error quoting a path), and a PEM private-key block becomes
``[private key redacted]``. One place, so no step can forget.
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType

PROG = "dockerlaunch"
_TRUE = {"1", "true", "yes", "on"}
_state = {"debug": os.environ.get("DOCKER_LAUNCH_DEBUG", "").lower() in _TRUE, "depth": 0}
SECRET_NAME_WORDS = ("KEY", "TOKEN", "PASSWORD", "SECRET")
REDACTED = "***"
_PEM_BEGIN, _PEM_END, _PEM_TAIL = "-----BEGIN ", "-----END ", "-----"
_secret_values: list[str] = []  # filled on first use: the environment the launcher was given


def is_secret_name(name: str) -> bool:
    """Whether ``name`` holds a secret word anywhere, in any case (see the module docstring)."""
    upper = name.upper()
    return any(word in upper for word in SECRET_NAME_WORDS)


def secret_values(environ: dict[str, str] | os._Environ[str] | None = None) -> list[str]:
    """Values of the variables whose names hold a secret word, longest first."""
    environ = os.environ if environ is None else environ
    found = {value for name, value in environ.items() if value and is_secret_name(name)}
    return sorted(found, key=len, reverse=True)


def _redact_pem(text: str) -> str:
    """Replace every ``-----BEGIN ... PRIVATE KEY-----`` ... ``-----END ...-----`` block."""
    start = text.find(_PEM_BEGIN)
    while start != -1:
        header_end = text.find(_PEM_TAIL, start + len(_PEM_BEGIN))
        if header_end == -1:
            break
        if "PRIVATE KEY" not in text[start:header_end]:
            start = text.find(_PEM_BEGIN, header_end)
            continue
        end = text.find(_PEM_END, header_end)
        end = len(text) if end == -1 else text.find(_PEM_TAIL, end + len(_PEM_END))
        end = len(text) if end == -1 else end + len(_PEM_TAIL)
        text = text[:start] + "[private key redacted]" + text[end:]
        start = text.find(_PEM_BEGIN, start)
    return text


def redact(message: str, secrets: list[str] | None = None) -> str:
    """``message`` without secret values or private keys (see the module docstring)."""
    if secrets is None:
        if not _secret_values:
            _secret_values.extend(secret_values() or [""])  # [""]: looked, found none
        secrets = _secret_values
    for value in secrets:
        if value:
            message = message.replace(value, REDACTED)
    return _redact_pem(message) if _PEM_BEGIN in message else message


def set_debug(enabled: bool) -> None:
    _state["debug"] = enabled


def debug_enabled() -> bool:
    return bool(_state["debug"])


def _write(level: str, message: str) -> None:
    indent = "  " * int(_state["depth"])
    sys.stderr.write(f"{PROG}: {level}: {indent}{redact(message)}\n")
    sys.stderr.flush()


def debug(message: str) -> None:
    if _state["debug"]:
        _write("debug", message)


def info(message: str) -> None:
    _write("info", message)


def warn(message: str) -> None:
    _write("warning", message)


def error(message: str) -> None:
    _write("error", message)


class step:  # lower case: used as ``with log.step(...)``, like the function it was
    """Log a step's start and duration at debug level; nested steps are indented.

    A class, not a contextlib.contextmanager: contextlib costs ~6 ms to import (undo.py).
    """

    __slots__ = ("_start", "_title")

    def __init__(self, title: str) -> None:
        self._title = title
        self._start: float | None = None

    def __enter__(self) -> None:
        if _state["debug"]:
            debug(f"{self._title} ...")
            self._start = time.monotonic()
            _state["depth"] = int(_state["depth"]) + 1

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._start is not None:
            _state["depth"] = int(_state["depth"]) - 1
            debug(f"{self._title}: done in {(time.monotonic() - self._start) * 1000:.1f} ms")
