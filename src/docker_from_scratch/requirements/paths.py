"""Paths under a root and the small readers every room shares.

The launcher, the doctor's probes and the tests look at a file tree "as seen from
inside" a root: "/" in the image, a fixture tree in unit tests. :func:`under` joins the
two, :func:`find_program` finds a program on PATH there (with the ``NAME.dist`` rule),
:func:`nearest_existing` walks up to what exists, and :func:`kernel_filesystems` reads
/proc/filesystems. One copy each: they used to exist two to four times under other names.
Standard library only, and only ``os``: the launcher imports this at every start.
"""

from __future__ import annotations

import os

DEFAULT_SEARCH_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def under(root: str, path: str) -> str:
    """``path`` (absolute, as seen from inside) joined under ``root`` (tests use a tmpfs root)."""
    return os.path.normpath(os.path.join(root or "/", path.lstrip("/")))


def read_text(path: str) -> str:
    """The file's text, or "" when it cannot be read (optional /proc and /etc files)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return ""


def read_optional(root: str, path: str) -> str | None:
    """The text of ``path`` inside ``root``, or None when it cannot be read (absent ≠ empty)."""
    try:
        with open(under(root, path), encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def read_bytes(root: str, path: str) -> bytes | None:
    """The bytes of ``path`` inside ``root``, or None when it cannot be read."""
    try:
        with open(under(root, path), "rb") as handle:
            return handle.read()
    except OSError:
        return None


def resolve(root: str, path: str, depth: int = 0) -> str:
    """Follow a final-component symlink chain, re-rooting absolute targets under ``root``."""
    full = under(root, path)
    if depth > 40 or not os.path.islink(full):
        return full
    target = os.readlink(full)
    if not target.startswith("/"):
        target = os.path.join(os.path.dirname(path), target)
    return resolve(root, os.path.normpath(target), depth + 1)


def is_executable(path: str, root: str = "/") -> bool:
    """A regular file (after links, inside ``root``) that we may execute."""
    resolved = resolve(root, path)
    return os.path.isfile(resolved) and os.access(resolved, os.X_OK)


def find_program(name: str, search_path: str | None = None, *, root: str = "/", dist: bool = False) -> str | None:
    """``name`` itself when it has a slash, else the first executable ``name`` on
    ``search_path`` (inside ``root``; default $PATH), like the shell finds it; or None.

    With ``dist``, ``NAME.dist`` counts too, and is what is returned when only it exists:
    the launcher links it to NAME before dockerd starts (the seed's fallback for images
    that ship defaults under another name). Relative PATH entries are skipped: a root
    process must not run what lies in its working directory.
    """
    if "/" in name:
        candidates = [name]
    else:
        if search_path is None:
            search_path = os.environ.get("PATH", DEFAULT_SEARCH_PATH)
        candidates = [f"{d.rstrip('/')}/{name}" for d in search_path.split(":") if d.startswith("/")]
    for candidate in candidates:
        for path in (candidate, f"{candidate}.dist") if dist else (candidate,):
            if is_executable(path, root):
                return path
    return None


def find_library(name: str, root: str = "/") -> str | None:
    """Where the dynamic loader finds ``name`` (a soname) without a cache, or None: the
    multiarch directories (``/usr/lib/<triplet>``, Debian's glibc searches them by
    default; this machine's architecture first, then the others), /usr/lib64 (Fedora's
    and SUSE's) and /usr/lib, with /lib beside each for trees that do not merge /usr.
    The builder knows its target's triplet and asks ``elf.default_library_dirs`` instead."""
    machine = os.uname().machine + "-"
    directories = []
    for base in ("/usr/lib", "/lib"):
        try:
            entries = sorted(os.listdir(under(root, base)), key=lambda entry: (not entry.startswith(machine), entry))
        except OSError:
            continue
        directories += [f"{base}/{entry}" for entry in entries if "-linux-" in entry] + [f"{base}64", base]
    for directory in directories:
        path = f"{directory}/{name}"
        if os.path.isfile(resolve(root, path)):
            return path
    return None


def nearest_existing(path: str, root: str = "/") -> str:
    """``path`` or its nearest ancestor that exists in any form (the data root, a log file's
    directory may not exist yet), as seen inside ``root``."""
    path = os.path.normpath("/" + path.lstrip("/"))
    while path != "/" and not os.path.lexists(under(root, path)):
        path = os.path.dirname(path)
    return path


def kernel_filesystems(root: str = "/") -> set[str]:
    """File system types the running kernel knows (last column of /proc/filesystems)."""
    text = read_text(under(root, "/proc/filesystems"))
    return {line.split()[-1] for line in text.splitlines() if line.strip()}
