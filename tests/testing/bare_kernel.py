"""Helpers for the bare-kernel tests: a busybox image archive made without any engine.

The VM has no network and no registry, so the image it runs comes in the initramfs as a
`docker save` archive (manifest.json, the config, one layer tar), which PID 1 loads
into dockerd at boot. Written here from Debian's static busybox: no host engine needed.
For another architecture the busybox comes from that architecture's busybox-static .deb
of the suite, fetched with the builder's private apt configuration (no registry).
"""

import hashlib
import io
import json
import tarfile
from pathlib import Path

from tests.testing.engine import BUSYBOX_TAG, busybox_rootfs_tar


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def foreign_busybox(arch: str, suite: str = "trixie") -> Path:
    """/bin/busybox of the suite's busybox-static for ``arch``, unpacked (never installed)."""
    from docker_from_scratch.builder import apt, debs

    cache_dir = apt.default_cache_dir()
    repo = apt.AptRepo(suite, arch, cache_dir=cache_dir)
    deb = repo.download(repo.resolve(["busybox-static"]))["busybox-static"]
    for entry in debs.unpack(deb, cache_dir):
        if entry.path in ("/bin/busybox", "/usr/bin/busybox") and entry.source is not None:
            return entry.source
    raise AssertionError(f"{deb.name} has no busybox binary")


def write_busybox_archive(path: Path, tag: str = BUSYBOX_TAG, arch: str = "amd64") -> Path:
    """A `docker save` archive of a one-layer busybox image for ``arch``, tagged ``tag``."""
    layer = busybox_rootfs_tar() if arch == "amd64" else busybox_rootfs_tar(busybox=foreign_busybox(arch))
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({
        "architecture": arch,
        "os": "linux",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "tests/testing/bare_kernel.py"}],
    }, sort_keys=True).encode()  # fmt: skip
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    layer_name = diff_id.removeprefix("sha256:") + "/layer.tar"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag], "Layers": [layer_name]}]).encode()
    with tarfile.open(path, "w") as tar:
        _add(tar, config_name, config)
        _add(tar, layer_name, layer)
        _add(tar, "manifest.json", manifest)
    return path
