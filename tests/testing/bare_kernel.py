"""Helpers for the bare-kernel tests: a busybox image archive made without any engine.

The VM has no network and no registry, so the image it runs comes in the initramfs as a
`docker save` archive (manifest.json, the config, one layer tar), which PID 1 loads
into dockerd at boot. Written here from Debian's static busybox: no host engine needed.
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


def write_busybox_archive(path: Path, tag: str = BUSYBOX_TAG) -> Path:
    """A `docker save` archive of a one-layer busybox image tagged ``tag``."""
    layer = busybox_rootfs_tar()
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({
        "architecture": "amd64",
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
