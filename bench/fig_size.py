"""Figure 1: image size, full and slim, per suite, against the engine with its shared-library closure.

Bytes per component and compressed sizes (gzip -6, zstd -3, each component compressed on
its own) come from the builder's report next to the image. The baseline is computed here
from the image itself: the engine rows' programs (dockerd, containerd, the shim, runc,
docker-init, docker-proxy, the docker CLI) plus every shared library and loader they reach
through DT_NEEDED, resolved inside the image's own tree by the builder's ELF closure code.
That is the floor: no image that runs this engine can be smaller. With ``--plugins`` the
CLI plugins count with the engine they extend (floor and image both hold them), so the
ratio compares like with like.

Variants: trixie (the default suite) full, slim and with buildx and compose; forky full
and with buildx and compose (docker:dind's equivalent).
"""

from __future__ import annotations

import json
import posixpath
import shutil
import tarfile
from pathlib import Path

from bench.session import Built, Session
from bench.table import Detail, Figure, Results, Target
from docker_from_scratch.builder.content import PLUGIN_DIR
from docker_from_scratch.builder.elf import Closure
from docker_from_scratch.builder.tree import Entry, FileTree
from docker_from_scratch.requirements.table import image_rows

# issue 18: the floor with a CPython launcher and Debian's git is about 1.185 for a full image
TARGETS = {"full": 1.19, "slim": 1.09, "plugins": 1.19, "forky": 1.19, "forky-plugins": 1.19}
TITLES = {
    "full": "full",
    "slim": "slim (--slim)",
    "plugins": "full with --plugins buildx,compose",
    "forky": "full, forky",
    "forky-plugins": "forky with --plugins buildx,compose",
}
BIN_DIRS = ("/usr/bin", "/usr/sbin")
COMPONENTS = ("engine", "plugins", "tools", "libraries", "python", "launcher", "layout")
ENGINE_LIKE = ("engine", "plugins")  # the plugins extend the engine: both are the floor


def layer_tree(archive: Path, directory: Path) -> FileTree:
    """The image's single layer, unpacked under ``directory``, as a FileTree."""
    with tarfile.open(archive) as outer:
        manifest_file = outer.extractfile("manifest.json")
        assert manifest_file is not None
        layer_name = json.load(manifest_file)[0]["Layers"][0]
        layer_file = outer.extractfile(layer_name)
        assert layer_file is not None
        tree = FileTree()
        with tarfile.open(fileobj=layer_file) as layer:
            for member in layer:
                path = posixpath.normpath("/" + member.name)
                if member.isreg():
                    source = directory / path.lstrip("/")
                    source.parent.mkdir(parents=True, exist_ok=True)
                    extracted = layer.extractfile(member)
                    assert extracted is not None
                    source.write_bytes(extracted.read())
                    tree.add(Entry(path, "file", member.mode, source=source))
                elif member.issym():
                    tree.add(Entry(path, "symlink", member.mode, target=member.linkname))
                elif member.islnk():
                    tree.add(Entry(path, "hardlink", member.mode, target=posixpath.normpath("/" + member.linkname)))
                elif member.isdir():
                    tree.add(Entry(path, "dir", member.mode))
    return tree


def engine_closure_bytes(tree: FileTree, arch: str, slim: bool) -> tuple[int, int]:
    """(bytes, files) of the engine rows' programs, the CLI plugins present, and everything they load."""
    closure = Closure(tree, arch)
    for path in sorted(tree.paths()):
        if path.startswith(PLUGIN_DIR + "/"):
            closure.add_with_libraries(path, "plugin", "plugins")
    for row in image_rows(slim=slim):
        if row.kind != "engine":
            continue
        for program in row.programs:
            found = [posixpath.join(d, program) for d in BIN_DIRS if posixpath.join(d, program) in tree]
            for path in found[:1]:
                closure.add_with_libraries(path, row.name, "engine")
    files = {tree.content_entry(tree[path]).path for path in closure.components if tree[path].kind != "symlink"}
    return sum(tree[path].size for path in files), len(files)


def _mb(value: int | None) -> str:
    return "-" if value is None else f"{value / 1e6:.2f} MB"


def measure(session: Session) -> Results:
    builds: dict[str, Built] = {variant: session.built(variant) for variant in TARGETS}
    results = Results()
    floors: dict[str, tuple[int, int]] = {}
    for variant, built in builds.items():
        unpacked = session.work / f"layer-{variant}"
        session.log(f"size: unpacking the {variant} image's layer to find the engine's closure")
        tree = layer_tree(built.archive, unpacked)
        floors[variant] = engine_closure_bytes(tree, built.report["arch"], variant == "slim")
        components = built.report["components"]
        total = sum(int(c["bytes"]) for c in components.values())
        on_disk = sum(entry.size for entry in tree if entry.kind == "file")
        if on_disk != total:
            session.log(f"size: {variant}: the report counts {total:,} bytes, the layer's files are {on_disk:,}")
        floor = floors[variant][0]
        has_plugins = int(components.get("plugins", {}).get("bytes", 0)) > 0
        figure = Figure(
            key=f"size.{variant}",
            title=f"Image size, {TITLES[variant]}: bytes of every file",
            unit="MB",
            runs=[on_disk / 1e6],
            baseline_title="the engine with its libraries" + (" and plugins" if has_plugins else ""),
            baseline_runs=[floor / 1e6],
            target=Target("ratio", TARGETS[variant]),
        )
        beyond = {name: int(c["bytes"]) for name, c in components.items() if name not in ENGINE_LIKE}
        engine_like = sum(int(components[name]["bytes"]) for name in ENGINE_LIKE if name in components)
        beyond["libraries"] -= floor - engine_like  # the engine's (and plugins') own libraries
        biggest = sorted(((n, b) for n, b in beyond.items() if b > 0), key=lambda item: -item[1])[:4]
        figure.holds_back = "beyond the engine: " + ", ".join(f"{name} {_mb(size)}" for name, size in biggest)
        results.figures.append(figure)
        shutil.rmtree(unpacked)
    results.figures[0].note = (
        "sum of the bytes of every file in the image's layer (per component: the builder's report); baseline: "
        "the engine rows' programs and their DT_NEEDED closure, computed from the image's own files"
    )
    results.details.append(_component_table(builds, floors))
    return results


def _component_table(builds: dict[str, Built], floors: dict[str, tuple[int, int]]) -> Detail:
    columns = ["component"]
    for variant in builds:
        columns += [f"{variant}: bytes", "gzip -6", "zstd -3"]
    rows = []
    for name in COMPONENTS:
        row = [name]
        for built in builds.values():
            size = built.report["components"].get(name, {})
            row += [_mb(size.get("bytes")), _mb(size.get("gzip")), _mb(size.get("zstd"))]
        rows.append(row)
    total_row = ["total"]
    layer_row = ["layer tar (with headers)"]
    floor_row = ["engine with its libraries (baseline)"]
    for variant, built in builds.items():
        sizes = list(built.report["components"].values())
        zstd = [s.get("zstd") for s in sizes]
        total_row += [
            _mb(sum(int(s["bytes"]) for s in sizes)),
            _mb(sum(int(s["gzip"]) for s in sizes)),
            _mb(None if None in zstd else sum(int(z) for z in zstd)),
        ]
        layer_row += [_mb(int(built.report["layer_size"])), "", ""]
        floor_row += [f"{_mb(floors[variant][0])} ({floors[variant][1]} files)", "", ""]
    rows += [total_row, layer_row, floor_row]
    return Detail("Image size per component (the builder's report; compressed per component)", columns, rows)
