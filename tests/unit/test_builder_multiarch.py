"""The multi-platform OCI archive, the --arch list, the push command line and the arm64 machine."""

import argparse
import json
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from docker_from_scratch.builder import cmd_push, cmd_vm, multiarch, qemu
from docker_from_scratch.builder.errors import BuildError
from docker_from_scratch.builder.image import ImageConfig, build_layer_file, write_docker_archive
from docker_from_scratch.builder.options import arch_list
from docker_from_scratch.builder.tree import Entry, FileTree


def arch_archive(tmp_path: Path, arch: str, content: bytes) -> Path:
    """A one-file docker-archive for ``arch``, written by the real image writer."""
    tree = FileTree([Entry("/usr/bin/tool", "file", 0o755, data=content)])
    layer, digest, _size = build_layer_file(tree, tmp_path)
    config = ImageConfig(arch=arch, variant="v8" if arch == "arm64" else "", entrypoint=("/usr/bin/tool",),
                         env=(), volumes=(), exposed_ports=(), labels={})  # fmt: skip
    archive = write_docker_archive(layer, digest, config, "dfs:1", tmp_path / f"{arch}.tar").path
    layer.unlink()
    return archive


def members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def test_index_archive_is_reproducible_and_lists_each_platform(tmp_path: Path) -> None:
    """Two writes of the same archives should give the same bytes and an index naming amd64 and arm64/v8."""
    inputs = [arch_archive(tmp_path, "amd64", b"x86"), arch_archive(tmp_path, "arm64", b"arm")]
    first = multiarch.write_index_archive(inputs, "dfs:1", tmp_path / "a.oci.tar")
    second = multiarch.write_index_archive(inputs, "dfs:1", tmp_path / "b.oci.tar")
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.index_digest == second.index_digest
    assert first.platforms == ("linux/amd64", "linux/arm64/v8")
    files = members(first.path)
    top = json.loads(files["index.json"])
    assert top["manifests"][0]["digest"] == first.index_digest
    index: dict[str, Any] = json.loads(files["blobs/sha256/" + first.index_digest.removeprefix("sha256:")])
    assert index["mediaType"] == multiarch.INDEX_MEDIA_TYPE
    for descriptor in index["manifests"]:  # every manifest and what it names is in the archive
        manifest = json.loads(files["blobs/sha256/" + descriptor["digest"].removeprefix("sha256:")])
        for blob in [manifest["config"], *manifest["layers"]]:
            assert "blobs/sha256/" + blob["digest"].removeprefix("sha256:") in files


def test_index_archive_refuses_two_images_of_one_architecture(tmp_path: Path) -> None:
    """Two amd64 archives should be refused: an index has one manifest per platform."""
    (tmp_path / "other").mkdir()
    inputs = [arch_archive(tmp_path, "amd64", b"a"), arch_archive(tmp_path / "other", "amd64", b"b")]
    with pytest.raises(BuildError, match="two images for one architecture"):
        multiarch.write_index_archive(inputs, "dfs:1", tmp_path / "x.oci.tar")


def test_arch_list_takes_commas_and_refuses_unknown_names() -> None:
    """--arch amd64,arm64 should split; an unknown or empty name should be a usage error."""
    assert arch_list("amd64,arm64") == ["amd64", "arm64"]
    assert arch_list("amd64,") == ["amd64"]
    for bad in ("sparc", "amd64,i386", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            arch_list(bad)


def test_push_chooses_the_transport_from_the_archive(tmp_path: Path) -> None:
    """A build's docker-archive should go as docker-archive:, the index archive as oci-archive:, all with --all."""
    single = arch_archive(tmp_path, "amd64", b"x")
    index = multiarch.write_index_archive([single], "dfs:1", tmp_path / "i.oci.tar").path
    argv = cmd_push.skopeo_argv(index, "127.0.0.1:5000/dfs:1", insecure=True)
    assert argv[:3] == ["skopeo", "copy", "--all"] and "--dest-tls-verify=false" in argv
    assert argv[-2:] == [f"oci-archive:{index}", "docker://127.0.0.1:5000/dfs:1"]
    assert cmd_push.skopeo_argv(single, "r/dfs:1")[-2] == f"docker-archive:{single}"
    with pytest.raises(BuildError, match="without a scheme"):
        cmd_push.skopeo_argv(single, "docker://r/dfs:1")
    with pytest.raises(BuildError, match="no such archive"):
        cmd_push.source_transport(tmp_path / "missing.tar")


def test_qemu_argv_for_arm64_is_virt_on_tcg_with_its_uart(tmp_path: Path) -> None:
    """arm64 should boot qemu-system-aarch64 -machine virt, TCG on this host, console ttyAMA0."""
    config = qemu.VmConfig(kernel=tmp_path / "vmlinuz", initrd=tmp_path / "initrd", arch="arm64")
    argv = qemu.qemu_argv(config, tmp_path / "qmp.sock")
    pairs = dict(zip(argv[1::2], argv[2::2], strict=False))
    assert argv[0] == "qemu-system-aarch64"
    assert pairs["-machine"] == "virt" and pairs["-accel"] == "tcg" and pairs["-cpu"] == "cortex-a57"
    assert "-vga" not in argv
    assert cmd_vm.kernel_cmdline(arch="arm64").startswith("console=ttyAMA0 ")
    assert cmd_vm.kernel_cmdline().startswith("console=ttyS0 ")
    with pytest.raises(BuildError, match="no QEMU machine"):
        qemu.machine("s390x")


def test_build_refuses_load_with_several_arches_before_building(tmp_path: Path) -> None:
    """`build --arch amd64,arm64 --load` and an unknown --arch should be usage errors (2), one line, nothing written."""
    def build(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "docker_from_scratch.cli", "build", *args, "-o", str(tmp_path / "o")]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)

    loaded = build("--arch", "amd64,arm64", "--load")
    assert loaded.returncode == 2 and loaded.stderr.count("\n") == 1
    assert "--load takes one --arch" in loaded.stderr and "(hint: " in loaded.stderr
    unknown = build("--arch", "amd64,sparc")
    assert unknown.returncode == 2 and "'amd64,sparc': use amd64, arm64, armhf" in unknown.stderr
    assert not (tmp_path / "o").exists()
