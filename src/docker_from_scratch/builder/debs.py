"""Unpack .deb files without installing them, once, into a cache that keeps modes and links.

``dpkg-deb --fsys-tarfile`` turns the package's data member into a plain tar stream,
whatever its compression (xz, zstd, gzip: Debian uses more than one and Python's
``tarfile`` cannot read zstd before 3.14); ``tarfile`` reads that stream. dpkg-deb is on
every Debian build host (apt needs it), so this adds no dependency, where python-debian
would (and would still need a zstd module). No maintainer script runs.

Regular files land under ``<cache>/unpacked/<deb file name>/files/<merged path>``, and
a manifest (JSON: path, kind, mode, link target) records what tar said, so a warm build
reads one small JSON per package instead of decompressing anything. Paths are merged
into /usr while unpacking (:func:`tree.usr_merged`). Directories are not recorded: the
image writer makes every parent 0755, the mode Debian gives them.
"""

import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from docker_from_scratch.builder.proc import spawn
from docker_from_scratch.builder.tree import Entry, merged_link_target, usr_merged

MANIFEST = "manifest.json"
# Bump when the manifest's meaning changes, so old caches are unpacked again.
MANIFEST_VERSION = 2


def package_name(deb: Path) -> str:
    """The package name from apt's ``name_version_arch.deb`` file name."""
    return deb.name.split("_", 1)[0]


def unpack_dir(deb: Path, cache_dir: Path) -> Path:
    return cache_dir / "unpacked" / deb.name.removesuffix(".deb")


def _extract(deb: Path, dest: Path) -> list[list[object]]:
    """Stream the data tar of ``deb`` into ``dest/files``; return the manifest rows."""
    files_dir = dest / "files"
    rows: list[list[object]] = []
    with spawn(["dpkg-deb", "--fsys-tarfile", deb], hint=f"delete {deb} so apt downloads it again") as proc:
        assert proc.stdout is not None
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                original = "/" + member.name.removeprefix("./").lstrip("/")
                if original == "/" or member.isdir():
                    continue
                path = usr_merged(original)
                mode = member.mode & 0o7777
                if member.issym():
                    target = merged_link_target(original, member.linkname, path)
                    rows.append([path, "symlink", mode, target])
                elif member.islnk():
                    rows.append(
                        [path, "hardlink", mode, usr_merged("/" + member.linkname.removeprefix("./").lstrip("/"))]
                    )
                elif member.isfile():
                    out = files_dir / path.lstrip("/")
                    out.parent.mkdir(parents=True, exist_ok=True)
                    data = tar.extractfile(member)
                    assert data is not None
                    with open(out, "wb") as handle:
                        shutil.copyfileobj(data, handle, 1 << 20)
                    # The cached copy keeps the mode: the Python runtime is run from it.
                    os.chmod(out, mode)
                    rows.append([path, "file", mode, ""])
                # device nodes and fifos do not occur in the packages we take
    return rows


def _current(manifest: Path) -> bool:
    """Is there a complete unpack of today's manifest version (another build may have made it)?"""
    try:
        return bool(json.loads(manifest.read_text()).get("version") == MANIFEST_VERSION)
    except (OSError, ValueError):
        return False


def unpack(deb: Path, cache_dir: Path) -> list[Entry]:
    """The entries of ``deb`` (unpacked into the cache on first use)."""
    dest = unpack_dir(deb, cache_dir)
    manifest = dest / MANIFEST
    rows: list[list[object]] | None = None
    if _current(manifest):
        rows = json.loads(manifest.read_text())["entries"]
    if rows is None:
        # Unpack beside the final place and rename: concurrent builds (tests, benchmarks)
        # may unpack the same package at once, and the loser's copy is dropped.
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}-"))
        try:
            rows = _extract(deb, staging)
            (staging / MANIFEST).write_text(json.dumps({"version": MANIFEST_VERSION, "entries": rows}))
            if dest.exists() and not _current(manifest):
                shutil.rmtree(dest)  # an unpack of an older manifest version
            staging.rename(dest)  # fails when another build's current unpack is there: ours is dropped
        except OSError:
            if not manifest.is_file():
                raise
            rows = None
        finally:
            if staging.exists():
                shutil.rmtree(staging)
        if rows is None:  # another build's unpack won the rename
            rows = json.loads(manifest.read_text())["entries"]
    name = package_name(deb)
    files_dir = dest / "files"
    entries = []
    for path, kind, mode, target in rows:
        assert isinstance(path, str) and isinstance(kind, str)
        assert isinstance(mode, int) and isinstance(target, str)
        source = files_dir / path.lstrip("/") if kind == "file" else None
        entries.append(
            Entry(path, kind, mode, target=target, source=source, package=name)  # type: ignore[arg-type]
        )
    return entries
