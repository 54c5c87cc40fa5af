"""One OCI image index over the per-architecture images: a multi-platform OCI archive.

Input: the docker-archives ``build`` wrote, one per architecture. Each already holds an
OCI layout (``index.json`` naming one image manifest, and its blobs). Output: an OCI
image layout tarball (what skopeo calls ``oci-archive:``) whose ``index.json`` names one
blob, an image index (``application/vnd.oci.image.index.v1+json``) listing each
architecture's manifest with its platform, as the OCI image spec's index does. Pushed
to a registry, that index is what ``docker pull --platform`` chooses from.

Reproducible like the per-architecture archives: blobs in digest order, canonical JSON,
fixed mtime and owners, manifests in the order the architectures were given; the same
inputs give the same index digest and the same bytes.
"""

import hashlib
import io
import json
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docker_from_scratch.builder.errors import BuildError
from docker_from_scratch.builder.image import _tarinfo, canonical_json, source_date_epoch

INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
BLOB_PREFIX = "blobs/sha256/"


@dataclass(frozen=True)
class Platform:
    """One image of the index: its manifest descriptor and the platform it runs on."""

    arch: str
    variant: str
    manifest: dict[str, Any]  # the descriptor from the archive's index.json


@dataclass(frozen=True)
class IndexResult:
    path: Path
    index_digest: str  # sha256:<hex> of the image index: what a registry serves for the tag
    platforms: tuple[str, ...]  # linux/amd64, linux/arm64/v8 ...


def _read_member(tar: tarfile.TarFile, name: str) -> bytes:
    handle = tar.extractfile(name)
    if handle is None:
        raise BuildError(f"{tar.name!r}: {name} is missing", hint="rebuild it with docker-from-scratch build")
    return handle.read()


def read_platform(archive: Path) -> Platform:
    """The one manifest of a ``build`` archive and the platform its config names."""
    with tarfile.open(archive) as tar:
        index = json.loads(_read_member(tar, "index.json"))
        manifests = index.get("manifests", [])
        if len(manifests) != 1:
            raise BuildError(f"{archive}: expected one image manifest, found {len(manifests)}")
        descriptor = dict(manifests[0])
        manifest = json.loads(_read_member(tar, BLOB_PREFIX + descriptor["digest"].removeprefix("sha256:")))
        config = json.loads(_read_member(tar, BLOB_PREFIX + manifest["config"]["digest"].removeprefix("sha256:")))
    descriptor.pop("annotations", None)  # the per-archive tag names do not belong in the index
    return Platform(config["architecture"], config.get("variant", ""), descriptor)


def index_document(platforms: Sequence[Platform]) -> bytes:
    """The image index: one descriptor per platform, in the given order."""
    manifests = []
    for platform in platforms:
        described: dict[str, Any] = {"architecture": platform.arch, "os": "linux"}
        if platform.variant:
            described["variant"] = platform.variant
        manifests.append({**platform.manifest, "platform": described})
    return canonical_json({"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": manifests})


def platform_name(platform: Platform) -> str:
    return "/".join(["linux", platform.arch, *([platform.variant] if platform.variant else [])])


def write_index_archive(archives: Sequence[Path], tag: str, out_path: Path) -> IndexResult:
    """Write the multi-platform OCI archive of ``archives`` (one per architecture) to ``out_path``."""
    platforms = [read_platform(archive) for archive in archives]
    arches = [p.arch for p in platforms]
    if len(set(arches)) != len(arches):
        raise BuildError(f"two images for one architecture: {', '.join(arches)}", hint="give each --arch once")
    index = index_document(platforms)
    index_digest = hashlib.sha256(index).hexdigest()
    version = tag.rpartition(":")[2] if ":" in tag.rpartition("/")[2] else "latest"
    top = canonical_json({
        "schemaVersion": 2,
        "mediaType": INDEX_MEDIA_TYPE,
        "manifests": [{
            "mediaType": INDEX_MEDIA_TYPE,
            "digest": f"sha256:{index_digest}",
            "size": len(index),
            "annotations": {"org.opencontainers.image.ref.name": version},
        }],
    })  # fmt: skip
    # Which archive holds each blob (layers are big: streamed from there, never held).
    sources: dict[str, tuple[Path, tarfile.TarInfo]] = {}
    for archive in archives:
        with tarfile.open(archive) as tar:
            for info in tar.getmembers():
                if info.isfile() and info.name.startswith(BLOB_PREFIX):
                    sources.setdefault(info.name.removeprefix(BLOB_PREFIX), (archive, info))
    mtime = source_date_epoch()
    tmp = out_path.with_name(out_path.name + ".tmp")
    digests = sorted({*sources, index_digest})
    with open(tmp, "wb") as raw, tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as out:
        for directory in ("blobs", "blobs/sha256"):
            out.addfile(_tarinfo(directory, tarfile.DIRTYPE, 0o755, mtime))
        for digest in digests:
            info = _tarinfo(BLOB_PREFIX + digest, tarfile.REGTYPE, 0o644, mtime)
            if digest == index_digest:
                info.size = len(index)
                out.addfile(info, io.BytesIO(index))
                continue
            archive, member = sources[digest]
            info.size = member.size
            with tarfile.open(archive) as tar:
                out.addfile(info, tar.extractfile(member))
        for name, data in (("index.json", top), ("oci-layout", canonical_json({"imageLayoutVersion": "1.0.0"}))):
            info = _tarinfo(name, tarfile.REGTYPE, 0o644, mtime)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
    tmp.rename(out_path)
    return IndexResult(out_path, f"sha256:{index_digest}", tuple(platform_name(p) for p in platforms))
