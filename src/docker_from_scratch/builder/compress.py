"""The layer blob's compression: ``build --compress gzip|zstd[:LEVEL]``.

The layer is written uncompressed first (its sha256 is the diff ID, so the image ID is
the same whatever the compression); the chosen tool then compresses that file into the
blob the archive carries, under the OCI media type that names the compression. Both
tools are Debian's CLIs run through the builder's one subprocess door (:mod:`proc`):

| name | tool and flags | loads on |
|---|---|---|
| ``none`` (default) | | every engine |
| ``gzip`` | ``gzip -n -LEVEL`` (no name, no time stamp) | every engine |
| ``zstd`` | ``zstd -LEVEL --long=27 -T0`` | Docker 23 and later (pkg/archive gained zstd), not 20.10 |

Reproducible: ``gzip -n`` writes no name or time; zstd's output depends on its level,
window and version only: with ``-T0`` its multi-threaded mode gives the same bytes for
any number of threads (measured with 1.5.4: -T1, -T2 and -T0 give one digest).
``--long=27`` (a 128 MiB window) finds the code the Go programs share far apart in the
layer (measured: 66.7 MB at -19 with it, against 94.8 MB at -3 without); 128 MiB is the
largest window a zstd decoder accepts without being told to (the CLI's default
``--memory`` limit), so nobody loading the archive needs a flag.
"""

import hashlib
import os
import resource
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from docker_from_scratch.builder.errors import BuildError
from docker_from_scratch.builder.proc import spawn

LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar"
ZSTD_WINDOW_LOG = 27
# What Docker 20.10's `docker load` says about a zstd layer (or a zstd-compressed archive):
# its pkg/archive DetectCompression knows bzip2, gzip and xz only, so it hands zstd's
# bytes on as a plain tar, and the untar in the load's chroot finds no tar header.
ZSTD_REFUSAL = "archive/tar: invalid tar header"


@dataclass(frozen=True)
class Tool:
    """One compressor: its program, its level range and its default level."""

    program: str
    levels: range
    default: int
    package: str  # the Debian package that has the program


TOOLS = {
    "gzip": Tool("gzip", range(1, 10), 6, "gzip"),
    "zstd": Tool("zstd", range(1, 20), 19, "zstd"),  # -19: the level that meets issue 18's 65 MB
}
NAMES = ("none", *TOOLS)


@dataclass(frozen=True)
class Compression:
    """``none``, or a tool of :data:`TOOLS` and its level."""

    name: str = "none"
    level: int = 0

    def __str__(self) -> str:
        return self.name if self.name == "none" else f"{self.name}:{self.level}"

    @property
    def media_type(self) -> str:
        return LAYER_MEDIA_TYPE if self.name == "none" else f"{LAYER_MEDIA_TYPE}+{self.name}"

    def argv(self) -> list[str]:
        """The command that compresses its stdin to its stdout."""
        if self.name == "gzip":
            return ["gzip", "-n", f"-{self.level}", "-c"]
        if self.name == "zstd":
            return ["zstd", "-q", f"-{self.level}", f"--long={ZSTD_WINDOW_LOG}", "-T0", "-c"]
        raise ValueError(f"no tool for {self.name}")


NONE = Compression()


def parse(text: str) -> Compression:
    """``zstd`` -> zstd at its default level, ``zstd:3`` -> level 3; ValueError names the choices."""
    name, colon, level_text = text.partition(":")
    if name not in NAMES:
        raise ValueError(f"unknown compression {name!r}: choose from {', '.join(NAMES)}")
    if name == "none":
        if colon:
            raise ValueError("'none' takes no level")
        return NONE
    tool = TOOLS[name]
    if not colon:
        return Compression(name, tool.default)
    if not level_text.isdigit() or int(level_text) not in tool.levels:
        raise ValueError(f"{name} level {level_text!r}: use {tool.levels.start} to {tool.levels.stop - 1}")
    return Compression(name, int(level_text))


def check_tool(compression: Compression) -> None:
    """Refuse at once, before minutes of assembly, when the compressor is missing."""
    if compression.name == "none":
        return
    tool = TOOLS[compression.name]
    if shutil.which(tool.program) is None:
        raise BuildError(
            f"--compress {compression.name} needs the {tool.program} program, which is not on PATH",
            hint=f"apt-get install {tool.package}, or build with --compress gzip",
        )


@dataclass(frozen=True)
class Blob:
    """The layer as the archive stores it."""

    path: Path
    digest: str  # sha256 hex of these bytes (equals the diff ID when uncompressed)
    size: int
    media_type: str
    cpu_seconds: float = 0.0  # the compressor's user + system time (a fairer figure than wall time on a busy host)


def compress_layer(layer_file: Path, compression: Compression, directory: Path) -> Blob:
    """The compressed copy of ``layer_file`` as a new temporary file in ``directory``."""
    fd, name = tempfile.mkstemp(dir=directory, prefix=".blob-", suffix=".tar")
    path = Path(name)
    # GZIP and ZSTD_CLEVEL/ZSTD_NBTHREADS change what the tools write: the bytes must depend
    # on the inputs alone.
    env = {key: value for key, value in os.environ.items() if key != "GZIP" and not key.startswith("ZSTD_")}
    try:
        before = _children_cpu()
        with os.fdopen(fd, "wb") as target, open(layer_file, "rb") as source:
            hint = f"check the {compression.name} program (apt-get install {TOOLS[compression.name].package})"
            with spawn(compression.argv(), env=env, stdin=source, stdout=target, hint=hint):
                pass
        cpu = _children_cpu() - before
        return Blob(path, _sha256(path), path.stat().st_size, compression.media_type, cpu)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # waited-for children: the compressor, once done
    return usage.ru_utime + usage.ru_stime


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
