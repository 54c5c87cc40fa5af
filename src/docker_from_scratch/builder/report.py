"""Size report: bytes per component, uncompressed and compressed, as a table and JSON.

Components: engine (dockerd, containerd, runc, ...), tools (the seed's files: git,
ssh, iptables, ...), libraries (shared libraries and the loader reached through
DT_NEEDED), python (interpreter, stdlib zip part, extension modules), launcher (our
package inside the zip, the entry scripts), layout (links and directories).
Compressed sizes compress each component's bytes on its own, with gzip -6 (what
``docker save | gzip`` and registries use) and zstd -3 when the zstd tool exists.
Compressing 250 MB takes several seconds, so a report whose layer digest matches the
previous one's is reused.
"""

import json
import shutil
import subprocess
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from docker_from_scratch.builder.tree import Entry, FileTree

COMPONENTS = ("engine", "tools", "libraries", "python", "launcher", "layout")
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


class _Compressors:
    def __init__(self, components: list[str], use_zstd: bool, tmp: Path) -> None:
        self.gzip = {c: zlib.compressobj(6, zlib.DEFLATED, 31) for c in components}
        self.gzip_size = dict.fromkeys(components, 0)
        self.zstd: dict[str, subprocess.Popen[bytes]] = {}
        self.zstd_out: dict[str, Path] = {}
        if use_zstd:
            for c in components:
                out = tmp / f"{c}.zst"
                self.zstd_out[c] = out
                with open(out, "wb") as handle:
                    self.zstd[c] = subprocess.Popen(
                        ["zstd", "-q", "-3", "-T1", "-c"], stdin=subprocess.PIPE, stdout=handle
                    )

    def feed(self, component: str, data: bytes) -> None:
        self.gzip_size[component] += len(self.gzip[component].compress(data))
        if component in self.zstd:
            stdin = self.zstd[component].stdin
            assert stdin is not None
            stdin.write(data)

    def finish(self) -> tuple[dict[str, int], dict[str, int]]:
        zstd_sizes = {}
        for c, compressor in self.gzip.items():
            self.gzip_size[c] += len(compressor.flush())
        for c, proc in self.zstd.items():
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait()
            zstd_sizes[c] = self.zstd_out[c].stat().st_size
        return self.gzip_size, zstd_sizes


def measure(tree: FileTree, zip_path: str, *, compress: bool = True) -> dict[str, ComponentSize]:
    """Per-component file counts and sizes (hard links count once)."""
    sizes = {c: ComponentSize() for c in COMPONENTS}
    use_zstd = compress and shutil.which("zstd") is not None
    with tempfile.TemporaryDirectory() as tmp:
        compressors = _Compressors(list(COMPONENTS), use_zstd, Path(tmp)) if compress else None
        for entry in sorted(tree, key=lambda e: e.path):
            if entry.kind != "file":
                continue
            sizes.setdefault(entry.component or "layout", ComponentSize())
            sizes[entry.component or "layout"].files += 1
            for part, data in _pieces(entry, zip_path):
                sizes[part].bytes += len(data)
                if compressors is not None:
                    compressors.feed(part if part in compressors.gzip else "layout", data)
        if compressors is not None:
            gzip_sizes, zstd_sizes = compressors.finish()
            for c in COMPONENTS:
                sizes[c].gzip = gzip_sizes[c]
                sizes[c].zstd = zstd_sizes.get(c)
    return sizes


def _human(n: int | None) -> str:
    if n is None:
        return "-"
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


def load_previous(path: Path, layer_digest: str) -> dict[str, ComponentSize] | None:
    """The sizes of an earlier report of the same layer, if there is one."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if doc.get("layer_digest") != layer_digest or "components" not in doc:
        return None
    return from_json(doc["components"])
