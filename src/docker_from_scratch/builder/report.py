"""Size report: bytes per component, uncompressed and compressed, as a table and JSON.

Components: engine (dockerd, containerd, runc, ...), plugins (``--plugins``: buildx,
compose; the bench's size figures count them with the engine they extend), tools (the
seed's files: git, ssh, iptables, ...), libraries (shared libraries and the loader reached through
DT_NEEDED), python (interpreter, stdlib part of the zip, extension modules), launcher
(our package inside the zip, the entry scripts), layout (links and directories).
Compressed sizes compress each component's bytes on its own, with gzip -6 (what
``docker save | gzip`` and registries use) and zstd -3 when the zstd tool exists.
Compressing 270 MB takes 15-20 s here, so each component's sizes are cached by a key
of its files and reused while they do not change.
"""

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from docker_from_scratch.builder.proc import spawn
from docker_from_scratch.builder.tree import Entry, FileTree

COMPONENTS = ("engine", "plugins", "tools", "libraries", "python", "launcher", "layout")
OUR_PACKAGE = "docker_from_scratch/"
CHUNK = 1 << 20


@dataclass
class ComponentSize:
    files: int = 0
    bytes: int = 0
    gzip: int = 0
    zstd: int | None = None


def _pieces(entry: Entry, zip_path: str) -> Iterator[tuple[str, bytes]]:
    """(component, bytes) of one file; the stdlib zip is split into python and launcher."""
    if entry.path == zip_path and entry.source is not None:
        with zipfile.ZipFile(entry.source) as archive:
            for member in archive.infolist():
                part = "launcher" if member.filename.startswith(OUR_PACKAGE) else "python"
                yield part, archive.read(member)
        return
    if entry.data is not None:
        yield entry.component, entry.data
        return
    assert entry.source is not None
    with open(entry.source, "rb") as handle:
        while chunk := handle.read(CHUNK):
            yield entry.component, chunk


def component_entries(tree: FileTree, zip_path: str) -> dict[str, list[Entry]]:
    """Regular files by component; the zip belongs to both python and launcher."""
    groups: dict[str, list[Entry]] = {c: [] for c in COMPONENTS}
    for entry in sorted(tree, key=lambda e: e.path):
        if entry.kind != "file":
            continue
        groups.setdefault(entry.component or "layout", []).append(entry)
        if entry.path == zip_path:
            groups["launcher"].append(entry)
    return groups


def _component_bytes(component: str, entries: list[Entry], zip_path: str) -> Iterator[bytes]:
    for entry in entries:
        for part, data in _pieces(entry, zip_path):
            if entry.path != zip_path or part == component:
                yield data


def component_key(component: str, entries: list[Entry]) -> str:
    """Changes when any file of the component changes (path, mode, size, content identity)."""
    digest = hashlib.sha256(f"v1 {component}\n".encode())
    for entry in entries:
        digest.update(f"{entry.path}\0{entry.mode}\0{entry.size}\0".encode())
        if entry.data is not None:
            digest.update(hashlib.sha256(entry.data).digest())
        else:
            assert entry.source is not None
            # Cached files are never rewritten in place (a new package version or a new
            # analysis is a new directory), so path and mtime identify their content.
            digest.update(f"{entry.source}\0{entry.source.stat().st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _compress(chunks: Iterator[bytes], use_zstd: bool) -> ComponentSize:
    size = ComponentSize()
    gzip = zlib.compressobj(6, zlib.DEFLATED, 31)
    with tempfile.TemporaryFile() as zstd_out:
        with contextlib.ExitStack() as running:
            zstd = None
            if use_zstd:
                argv = ["zstd", "-q", "-3", "-T1", "-c"]
                zstd = running.enter_context(spawn(argv, stdin=subprocess.PIPE, stdout=zstd_out))
            for data in chunks:
                size.bytes += len(data)
                size.gzip += len(gzip.compress(data))
                if zstd is not None and zstd.stdin is not None:
                    zstd.stdin.write(data)
            size.gzip += len(gzip.flush())
        # zstd's stdin is closed and it has finished (or raised BuildError) by here
        if zstd is not None:
            size.zstd = os.fstat(zstd_out.fileno()).st_size
    return size


def measure(
    tree: FileTree, zip_path: str, *, cache_dir: Path | None = None, compress: bool = True
) -> dict[str, ComponentSize]:
    """Per-component file counts, bytes and compressed bytes (cached per component)."""
    use_zstd = compress and shutil.which("zstd") is not None
    sizes: dict[str, ComponentSize] = {}
    for component, entries in component_entries(tree, zip_path).items():
        files = len([e for e in entries if component != "launcher" or e.path != zip_path])
        key = component_key(component, entries) + ("-zstd" if use_zstd else "")
        cache_file = cache_dir / "sizes" / f"{key}.json" if cache_dir and compress else None
        size: ComponentSize | None = None
        if cache_file is not None and cache_file.is_file():
            size = from_json({component: json.loads(cache_file.read_text())})[component]
        if size is None:
            pieces = _component_bytes(component, entries, zip_path)
            size = _compress(pieces, use_zstd) if compress else ComponentSize(bytes=sum(map(len, pieces)))
            if cache_file is not None:
                cache_file.parent.mkdir(parents=True, exist_ok=True)
                cache_file.write_text(json.dumps(to_json({component: size})[component]))
        size.files = files
        sizes[component] = size
    return sizes


def _human(n: int | None) -> str:
    if n is None:
        return "          -"
    return f"{n / 1e6:8.2f} MB"


def format_table(sizes: dict[str, ComponentSize]) -> str:
    lines = [f"{'component':<10} {'files':>6} {'bytes':>11} {'gzip':>11} {'zstd':>11}"]
    total = ComponentSize(zstd=0)
    for name, size in sizes.items():
        lines.append(f"{name:<10} {size.files:>6} {_human(size.bytes)} {_human(size.gzip)} {_human(size.zstd)}")
        total.files += size.files
        total.bytes += size.bytes
        total.gzip += size.gzip
        total.zstd = None if size.zstd is None or total.zstd is None else total.zstd + size.zstd
    lines.append(f"{'total':<10} {total.files:>6} {_human(total.bytes)} {_human(total.gzip)} {_human(total.zstd)}")
    return "\n".join(lines)


def to_json(sizes: dict[str, ComponentSize]) -> dict[str, dict[str, int | None]]:
    return {name: {"files": s.files, "bytes": s.bytes, "gzip": s.gzip, "zstd": s.zstd} for name, s in sizes.items()}


def from_json(doc: dict[str, dict[str, int | None]]) -> dict[str, ComponentSize]:
    return {
        name: ComponentSize(int(v["files"] or 0), int(v["bytes"] or 0), int(v["gzip"] or 0), v["zstd"])
        for name, v in doc.items()
    }
