"""Write the image: one reproducible layer tar, and a docker-archive that `docker load` takes.

Reproducible: every member has the same mtime (``SOURCE_DATE_EPOCH``, else 0), uid and
gid 0 (the rootless image's home and runtime directories: its user's) with no user or
group names, and members are sorted by path (parents first,
since a path sorts before everything under it); the JSON documents are written with
sorted keys and no whitespace, and the ``created`` date is the same epoch. The same
inputs give a byte-identical tarball and therefore the same image ID (the config's
sha256).

The archive holds both layouts docker itself writes since Engine 25: ``manifest.json``
(read by every ``docker load``, 20.10 here) pointing at ``blobs/sha256/<digest>``, plus
``oci-layout`` and ``index.json`` with an OCI image manifest, so OCI tools read it too.
"""

import hashlib
import io
import json
import os
import posixpath
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from docker_from_scratch.builder.compress import LAYER_MEDIA_TYPE, NONE, ZSTD_REFUSAL, Blob, Compression
from docker_from_scratch.builder.errors import BuildError
from docker_from_scratch.builder.proc import run_tool
from docker_from_scratch.builder.tree import Entry, FileTree
from docker_from_scratch.requirements.layout import LAUNCHER

CHUNK = 1 << 20


def source_date_epoch() -> int:
    """``SOURCE_DATE_EPOCH`` (reproducible-builds.org), else 0."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "")
    return int(value) if value.isdigit() else 0


def canonical_json(document: Any) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _tarinfo(name: str, kind: bytes, mode: int, mtime: int, owner: int = 0) -> tarfile.TarInfo:
    # mode keeps the setuid bit (newuidmap, newgidmap): tarfile writes all 12 mode bits.
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = mtime
    info.uid = info.gid = owner
    info.uname = info.gname = ""
    return info


def layer_members(tree: FileTree, *, unlisted_parents: Collection[str] = ()) -> list[Entry]:
    """Every entry plus the parent directories nobody listed, sorted by path.

    ``unlisted_parents`` are never added as directories: a directory header in a tar
    applied by docker replaces a symlink of the base at that path (the export must not
    turn a merged-/usr base's /lib64 link into a directory).
    """
    entries = {entry.path: entry for entry in tree}
    for path in list(entries):
        parent = posixpath.dirname(path)
        while parent not in ("/", "") and parent not in entries and parent not in unlisted_parents:
            entries[parent] = Entry(parent, "dir", 0o755, package="generated")
            parent = posixpath.dirname(parent)
    return [entries[path] for path in sorted(entries)]


class _HashingWriter:
    """A file wrapper that hashes and counts what tarfile writes."""

    def __init__(self, target: BinaryIO) -> None:
        self.target = target
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self.target.write(data)

    def tell(self) -> int:
        return self.size


def write_layer(
    tree: FileTree,
    out: BinaryIO,
    *,
    mtime: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    unlisted_parents: Collection[str] = (),
) -> tuple[str, int]:
    """Write the layer tar of ``tree`` to ``out``; return (sha256 hex, size).

    Hard links whose target is not in the tree, or comes later, are written as files.
    """
    mtime = source_date_epoch() if mtime is None else mtime
    members = layer_members(tree, unlisted_parents=unlisted_parents)
    total = sum(tree.content_entry(e).size if e.kind in ("file", "hardlink") else 0 for e in members)
    done = 0
    writer = _HashingWriter(out)
    written: set[str] = set()
    with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        for entry in members:
            name = entry.path.lstrip("/")
            if entry.kind == "dir":
                tar.addfile(_tarinfo(name, tarfile.DIRTYPE, entry.mode, mtime, entry.owner))
            elif entry.kind == "symlink":
                info = _tarinfo(name, tarfile.SYMTYPE, 0o777, mtime)
                info.linkname = entry.target
                tar.addfile(info)
            elif entry.kind == "hardlink" and entry.target in written:
                info = _tarinfo(name, tarfile.LNKTYPE, entry.mode, mtime)
                info.linkname = entry.target.lstrip("/")
                tar.addfile(info)
            else:
                content = tree.content_entry(entry) if entry.kind == "hardlink" else entry
                info = _tarinfo(name, tarfile.REGTYPE, entry.mode, mtime, entry.owner)
                info.size = content.size
                if content.data is not None:
                    tar.addfile(info, io.BytesIO(content.data))
                else:
                    assert content.source is not None
                    with open(content.source, "rb") as handle:
                        tar.addfile(info, handle)
                written.add(entry.path)
                done += info.size
                if progress:
                    progress(done, total)
    return writer.sha256.hexdigest(), writer.size


@dataclass(frozen=True)
class ImageConfig:
    """The parts of the OCI image config we set (see the brief's image layout)."""

    arch: str
    entrypoint: tuple[str, ...]
    env: tuple[str, ...]
    volumes: tuple[str, ...]
    exposed_ports: tuple[str, ...]
    labels: dict[str, str]
    stop_signal: str = "SIGTERM"
    variant: str = ""
    user: str = ""  # the rootless image runs as its unprivileged user
    # Exec form: the slim image has no shell. `dockerlaunch --health` pings dockerd's
    # unix socket (GET /_ping) with the standard library. Durations are nanoseconds.
    healthcheck: tuple[str, ...] = ("CMD", LAUNCHER, "--health")

    def document(self, diff_id: str, created: str) -> dict[str, Any]:
        config: dict[str, Any] = {
            "Entrypoint": list(self.entrypoint),
            "Env": list(self.env),
            "ExposedPorts": {port: {} for port in self.exposed_ports},
            "Labels": dict(self.labels),
            "StopSignal": self.stop_signal,
            "Volumes": {volume: {} for volume in self.volumes},
        }
        if self.user:
            config["User"] = self.user
        if self.healthcheck:
            second = 1_000_000_000
            config["Healthcheck"] = {
                "Test": list(self.healthcheck),
                "Interval": 10 * second,
                "Timeout": 5 * second,
                "StartPeriod": 60 * second,
                "StartInterval": 1 * second,  # Docker 25+: poll every second while starting
                "Retries": 3,
            }
        doc: dict[str, Any] = {
            "architecture": self.arch,
            "os": "linux",
            "created": created,
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
            "history": [{"created": created, "created_by": "docker-from-scratch build"}],
        }
        if self.variant:
            doc["variant"] = self.variant
        return doc


@dataclass(frozen=True)
class ImageResult:
    path: Path
    image_id: str  # sha256:<config digest>
    layer_digest: str  # sha256 hex of the uncompressed layer (the diff ID)
    layer_size: int
    blob_size: int  # the layer as stored: compressed with --compress, else layer_size


def _iso(epoch: int) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_docker_archive(
    layer_file: Path,
    layer_digest: str,
    config: ImageConfig,
    tag: str,
    out_path: Path,
    blob: Blob | None = None,
) -> ImageResult:
    """Wrap a finished layer into a docker-archive (+ OCI layout) tarball at ``out_path``.

    ``blob``: the layer compressed (:mod:`compress`); the archive then carries it in place
    of ``layer_file``, and ``layer_digest`` stays the diff ID in the config, so the image
    ID does not depend on the compression. ``docker load`` decompresses what it detects.
    """
    mtime = source_date_epoch()
    created = _iso(mtime)
    config_bytes = canonical_json(config.document(layer_digest, created))
    config_digest = hashlib.sha256(config_bytes).hexdigest()
    if blob is None:
        blob = Blob(layer_file, layer_digest, layer_file.stat().st_size, LAYER_MEDIA_TYPE)
    repo, _, version = tag.rpartition(":")
    if not repo or "/" in version:
        repo, version = tag, "latest"
    oci_manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": f"sha256:{config_digest}",
                "size": len(config_bytes),
            },
            "layers": [
                {
                    "mediaType": blob.media_type,
                    "digest": f"sha256:{blob.digest}",
                    "size": blob.size,
                }
            ],
        }
    )
    manifest_digest = hashlib.sha256(oci_manifest).hexdigest()
    index = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": f"sha256:{manifest_digest}",
                    "size": len(oci_manifest),
                    "annotations": {
                        "io.containerd.image.name": f"docker.io/library/{repo}:{version}"
                        if "/" not in repo
                        else f"{repo}:{version}",
                        "org.opencontainers.image.ref.name": version,
                    },
                }
            ],
        }
    )
    docker_manifest = canonical_json(
        [
            {
                "Config": f"blobs/sha256/{config_digest}",
                "RepoTags": [f"{repo}:{version}"],
                "Layers": [f"blobs/sha256/{blob.digest}"],
            }
        ]
    )
    tmp = out_path.with_name(out_path.name + ".tmp")
    with open(tmp, "wb") as raw, tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for directory in ("blobs", "blobs/sha256"):
            tar.addfile(_tarinfo(directory, tarfile.DIRTYPE, 0o755, mtime))
        # blobs in digest order, then the small documents: fixed order, fixed bytes
        blobs: dict[str, bytes | Path] = {
            config_digest: config_bytes,
            manifest_digest: oci_manifest,
            blob.digest: blob.path,
        }
        for digest in sorted(blobs):
            content = blobs[digest]
            info = _tarinfo(f"blobs/sha256/{digest}", tarfile.REGTYPE, 0o644, mtime)
            if isinstance(content, Path):
                info.size = blob.size
                with open(content, "rb") as handle:
                    tar.addfile(info, handle)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
        for name, data in (
            ("index.json", index),
            ("manifest.json", docker_manifest),
            ("oci-layout", canonical_json({"imageLayoutVersion": "1.0.0"})),
        ):
            info = _tarinfo(name, tarfile.REGTYPE, 0o644, mtime)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    tmp.rename(out_path)
    return ImageResult(out_path, f"sha256:{config_digest}", layer_digest, layer_file.stat().st_size, blob.size)


def build_layer_file(
    tree: FileTree, directory: Path, progress: Callable[[int, int], None] | None = None
) -> tuple[Path, str, int]:
    """Write the layer into ``directory`` (a temporary file); return (path, digest, size)."""
    fd, name = tempfile.mkstemp(dir=directory, prefix=".layer-", suffix=".tar")
    with os.fdopen(fd, "wb") as handle:
        digest, size = write_layer(tree, handle, progress=progress)
    return Path(name), digest, size


def docker_load(archive: Path, compression: Compression = NONE) -> str:
    """``docker load -i archive``; return docker's last output line."""
    docker = shutil.which("docker")
    if docker is None:
        raise BuildError("--load needs the docker client", hint="install docker.io or drop --load")

    def explain(errors: str) -> BuildError | None:
        # Docker 20.10's pkg/archive detects bzip2, gzip and xz only: zstd's bytes go to
        # the untar as they are (the README's compression section).
        if compression.name == "zstd" and ZSTD_REFUSAL in errors:
            return BuildError(
                f"the engine cannot decompress the zstd layer of {archive} (Docker before 23 reads no zstd)",
                hint="build with --compress gzip for this engine, or load it into Docker 23 or later",
            )
        return None

    output = run_tool(
        [docker, "load", "-i", archive], hint="start the engine (scripts/host-engine) and retry", explain=explain
    )  # fmt: skip
    lines = output.strip().splitlines()
    return lines[-1] if lines else ""


