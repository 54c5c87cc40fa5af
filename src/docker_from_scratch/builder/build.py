"""One build: assemble the tree, write the layer and the archive, report sizes.

:func:`build_image` is the one entry point for the ``build`` verb, the tests and the
end-to-end fixtures; :func:`export_files` for the ``export`` verb.
"""

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from docker_from_scratch.builder import compress, content, image, report
from docker_from_scratch.builder.apt import Progress, default_cache_dir, print_progress
from docker_from_scratch.builder.elf import arch_info
from docker_from_scratch.builder.report import ComponentSize
from docker_from_scratch.builder.tree import Entry, FileTree
from docker_from_scratch.requirements.layout import DATA_ROOT, ENTRYPOINT

DEFAULT_TAG = "docker-from-scratch:latest"
ENV = (
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "DOCKER_TLS_CERTDIR=/certs",
)
# Packages whose versions the image's labels name.
LABELLED_PACKAGES = (
    "docker.io", "containerd", "runc", "tini", "tini-static", "iptables", "git", "docker-buildx", "docker-compose",
)  # fmt: skip
# Where the export tarball must not write: the base distribution owns these.
EXPORT_DROPPED_LINKS = ("/bin", "/sbin", "/lib", "/lib64")
EXPORT_DROPPED_FILES = (content.OS_RELEASE,)


@dataclass(frozen=True)
class BuildResult:
    """What a build produced, for the verbs and the tests."""

    archive: Path
    report: Path
    files: Path  # JSON: every image path -> why it is in
    image_id: str
    tag: str
    layer_digest: str
    layer_size: int
    blob_size: int  # the layer as the archive stores it (compressed with --compress)
    compress_seconds: float
    sizes: dict[str, ComponentSize]
    assembly: content.Assembly
    seconds: float


def image_name(suite: str, arch: str, slim: bool, rootless: bool = False, plugins: tuple[str, ...] = ()) -> str:
    plugin_part = "".join("-" + p for p in plugins)
    return f"docker-from-scratch-{suite}-{arch}{'-slim' if slim else ''}{'-rootless' if rootless else ''}{plugin_part}"


def image_config(assembly: content.Assembly) -> image.ImageConfig:
    labels = {
        "org.opencontainers.image.title": "docker-from-scratch",
        "docker-from-scratch.suite": assembly.suite,
        "docker-from-scratch.arch": assembly.arch,
        "docker-from-scratch.slim": "true" if assembly.slim else "false",
        "docker-from-scratch.plugins": ",".join(assembly.plugins),
        "docker-from-scratch.python": assembly.python.version,
    }
    env: tuple[str, ...] = ENV
    volumes, user = (DATA_ROOT,), ""
    if assembly.rootless:
        # docker:dind-rootless's conventions: the socket in the user's runtime directory,
        # the data root in its home, the image's USER that user.
        labels["docker-from-scratch.rootless"] = "true"
        env = (*ENV, f"XDG_RUNTIME_DIR={content.ROOTLESS_RUNTIME_DIR}",
               f"DOCKER_HOST=unix://{content.ROOTLESS_RUNTIME_DIR}/docker.sock")  # fmt: skip
        volumes, user = (content.ROOTLESS_DATA_ROOT,), content.ROOTLESS_USER
    for package in LABELLED_PACKAGES:
        if package in assembly.versions:
            labels[f"docker-from-scratch.version.{package}"] = assembly.versions[package]
    platform = arch_info(assembly.arch)
    return image.ImageConfig(
        arch=platform.oci_arch,
        variant=platform.oci_variant,
        entrypoint=ENTRYPOINT,
        env=env,
        volumes=volumes,
        user=user,
        exposed_ports=("2375/tcp", "2376/tcp"),
        labels=labels,
    )


def _layer_progress(progress: Progress) -> Callable[[int, int], None]:
    state = {"next": 0}

    def report_progress(done: int, total: int) -> None:
        if done >= state["next"] or done == total:
            progress(f"layer: {done / 1e6:.0f} of {total / 1e6:.0f} MB written")
            state["next"] = done + max(total // 5, 1)

    return report_progress


def build_image(
    suite: str = "trixie",
    arch: str = "amd64",
    slim: bool = False,
    output: Path = Path("out"),
    *,
    tag: str = DEFAULT_TAG,
    cache_dir: Path | None = None,
    mirror: str | None = None,
    allow_expired: bool = False,
    plugins: tuple[str, ...] = (),
    progress: Progress = print_progress,
    rootless: bool = False,
    compression: compress.Compression = compress.NONE,
) -> BuildResult:
    """Build the image tarball ``output/<name>.tar`` and its size report."""
    start = time.monotonic()
    compress.check_tool(compression)
    cache_dir = cache_dir or default_cache_dir()
    output.mkdir(parents=True, exist_ok=True)
    assembly = content.assemble(
        suite, arch, slim=slim, cache_dir=cache_dir, mirror=mirror, allow_expired=allow_expired,
        plugins=plugins, progress=progress, rootless=rootless,
    )  # fmt: skip
    name = image_name(suite, arch, slim, rootless, assembly.plugins)
    layer_file, digest, size = image.build_layer_file(assembly.tree, output, progress=_layer_progress(progress))
    blob: compress.Blob | None = None
    compress_start = time.monotonic()
    try:
        if compression != compress.NONE:
            progress(f"layer: compressing with {' '.join(compression.argv()[:-1])}")
            blob = compress.compress_layer(layer_file, compression, output)
        compress_seconds = time.monotonic() - compress_start
        archive = image.write_docker_archive(
            layer_file, digest, image_config(assembly), tag, output / f"{name}.tar", blob=blob
        )  # fmt: skip
    finally:
        layer_file.unlink()
        if blob is not None:
            blob.path.unlink()
    report_path = output / f"{name}.report.json"
    progress("report: measuring components (compressing only what changed)")
    sizes = report.measure(assembly.tree, assembly.python.zip_path, cache_dir=cache_dir)
    files_path = output / f"{name}.files.json"
    files_path.write_text(json.dumps(assembly.reasons, indent=1, sort_keys=True) + "\n")
    seconds = time.monotonic() - start
    report_path.write_text(
        json.dumps(
            {
                "image": name,
                "tag": tag,
                "image_id": archive.image_id,
                "layer_digest": digest,
                "layer_size": size,
                "compression": str(compression),
                "blob_size": archive.blob_size,
                "archive_size": archive.path.stat().st_size,
                "compress_seconds": round(compress_seconds, 1),
                "compress_cpu_seconds": round(blob.cpu_seconds if blob else 0.0, 1),
                "suite": suite,
                "arch": arch,
                "slim": slim,
                "rootless": rootless,
                "plugins": list(assembly.plugins),
                "python": assembly.python.version,
                "python_modules": len(assembly.analysis.modules),
                "versions": dict(sorted(assembly.versions.items())),
                "components": report.to_json(sizes),
                "build_seconds": round(seconds, 1),
            },
            indent=1,
        )
        + "\n"
    )
    return BuildResult(
        archive=archive.path,
        report=report_path,
        files=files_path,
        image_id=archive.image_id,
        tag=tag,
        layer_digest=digest,
        layer_size=size,
        blob_size=archive.blob_size,
        compress_seconds=compress_seconds,
        sizes=sizes,
        assembly=assembly,
        seconds=seconds,
    )


def export_tree(tree: FileTree, loader: str) -> FileTree:
    """The image's files for ``ADD files.tar /`` onto another distribution.

    No top-level /bin, /sbin, /lib, /lib64 links (the base has them, merged or not) and
    no /etc (the base's own files win) and not our os-release; the defaults stay under
    /usr/etc, where the launcher copies each missing one into /etc.

    Our programs need their ELF interpreter (``loader``, e.g. /lib64/ld-linux-x86-64.so.2)
    at its own path, which only a merged-/usr base provides (through its /lib64 link). So
    the export carries it as an absolute link to the real loader, without an entry for
    its directory (see :func:`export_files`): on a merged base it lands through the base's
    link beside the same loader, on any other base the directory is created for it.
    The libraries need nothing more: the loader's default search includes /usr/lib/TRIPLET.
    """
    kept = FileTree()
    kept.add(Entry(loader, "symlink", 0o777, target=tree.resolve(loader), package="generated", component="layout"))
    for entry in tree:
        if entry.path in EXPORT_DROPPED_LINKS + EXPORT_DROPPED_FILES or entry.path == "/etc":
            continue
        if entry.path.startswith("/etc/"):
            continue
        if entry.kind == "hardlink" and entry.target.startswith("/etc/"):
            source = tree.content_entry(entry)
            entry = Entry(
                entry.path,
                "file",
                entry.mode,
                source=source.source,
                data=source.data,
                package=source.package,
                component=entry.component,
            )
        kept.add(entry)
    return kept


def export_files(
    output_tar: Path,
    suite: str = "trixie",
    arch: str = "amd64",
    slim: bool = False,
    *,
    cache_dir: Path | None = None,
    mirror: str | None = None,
    allow_expired: bool = False,
    plugins: tuple[str, ...] = (),
    progress: Progress = print_progress,
) -> tuple[Path, str, int]:
    """Write the export tarball; return (path, sha256, size)."""
    cache_dir = cache_dir or default_cache_dir()
    # The output is opened before the minutes of assembly: an unwritable -o fails at once
    # (an OSError, which the CLI prints as one line) and nothing is left half-written.
    output_tar.parent.mkdir(parents=True, exist_ok=True)
    tmp = output_tar.with_name(output_tar.name + ".tmp")
    with open(tmp, "wb") as handle:
        try:
            assembly = content.assemble(
                suite, arch, slim=slim, cache_dir=cache_dir, mirror=mirror, allow_expired=allow_expired,
                plugins=plugins, progress=progress,
            )  # fmt: skip
            tree = export_tree(assembly.tree, arch_info(arch).loader)
            digest, size = image.write_layer(
                tree, handle, progress=_layer_progress(progress), unlisted_parents=EXPORT_DROPPED_LINKS
            )
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    os.replace(tmp, output_tar)
    return output_tar, digest, size
