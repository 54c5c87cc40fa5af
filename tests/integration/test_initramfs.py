"""The cpio newc writer, read back by GNU cpio (the format the kernel unpacks)."""

import io
import os
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from docker_from_scratch.builder import initramfs
from docker_from_scratch.builder.errors import BuildError
from docker_from_scratch.builder.tree import Entry

pytestmark = pytest.mark.integration


def extract(archive: bytes, into: Path) -> None:
    """Unpack with GNU cpio as root, keeping modes, links and device nodes."""
    into.mkdir()
    result = subprocess.run(["cpio", "-idm", "--quiet", "--no-absolute-filenames"],
                            input=archive, cwd=into, capture_output=True, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()


def write(members: list[initramfs.Member]) -> bytes:
    buffer = io.BytesIO()
    size = initramfs.write_initramfs(members, buffer, mtime=0)
    assert size == len(buffer.getvalue())
    return buffer.getvalue()


def sample_members(tmp_path: Path) -> list[initramfs.Member]:
    big = tmp_path / "big"
    big.write_bytes(os.urandom(3 * initramfs.CHUNK + 5))  # read in chunks, odd length
    return [
        initramfs.file("usr/bin/tool", b"#!/bin/sh\necho tool\n", 0o755),
        initramfs.Member("usr/lib/big.bin", stat.S_IFREG | 0o644, source=big),
        initramfs.Member("usr/bin/tool-link", stat.S_IFREG | 0o755, link_group="usr/bin/tool"),
        initramfs.symlink("bin", "usr/bin"),
        initramfs.directory("tmp", 0o1777),
        initramfs.char_device("dev/console", 5, 1),
    ]


def test_initramfs_unpacks_files_links_devices_and_modes(tmp_path: Path) -> None:
    """GNU cpio should recreate contents, modes, the symlink, the hard link and the device."""
    root = tmp_path / "root"
    extract(write(sample_members(tmp_path)), root)
    assert (root / "usr/bin/tool").read_bytes() == b"#!/bin/sh\necho tool\n"
    assert stat.S_IMODE((root / "usr/bin/tool").stat().st_mode) == 0o755
    assert (root / "usr/lib/big.bin").read_bytes() == (tmp_path / "big").read_bytes()
    assert os.readlink(root / "bin") == "usr/bin"
    assert (root / "usr/bin/tool-link").stat().st_ino == (root / "usr/bin/tool").stat().st_ino
    assert (root / "usr/bin/tool").stat().st_nlink == 2
    assert stat.S_IMODE((root / "tmp").stat().st_mode) == 0o1777
    console = (root / "dev/console").stat()
    assert stat.S_ISCHR(console.st_mode) and (os.major(console.st_rdev), os.minor(console.st_rdev)) == (5, 1)
    assert (root / "usr").is_dir() and stat.S_IMODE((root / "usr").stat().st_mode) == 0o755


def test_initramfs_is_byte_identical_for_the_same_members(tmp_path: Path) -> None:
    """Writing the same members in another order should give the same bytes."""
    members = sample_members(tmp_path)
    assert write(members) == write(list(reversed(members)))


def test_initramfs_members_are_aligned_and_end_with_the_trailer(tmp_path: Path) -> None:
    """Every header should start on a 4-byte boundary; the archive ends in TRAILER!!! and 512-byte padding."""
    data = write(sample_members(tmp_path))
    assert len(data) % 512 == 0
    offset, names = 0, []
    while True:
        assert offset % 4 == 0 and data[offset : offset + 6] == initramfs.MAGIC
        size = int(data[offset + 54 : offset + 62], 16)
        namesize = int(data[offset + 94 : offset + 102], 16)
        name = data[offset + 110 : offset + 110 + namesize - 1].decode()
        names.append(name)
        offset += 110 + namesize
        offset += -offset % 4
        offset += size + (-size % 4)
        if name == initramfs.TRAILER:
            break
    assert names[:3] == ["bin", "dev", "dev/console"]  # parents before children, sorted
    assert data[offset:].strip(b"\0") == b""


def test_initramfs_from_tar_and_directory_agree(tmp_path: Path) -> None:
    """A tarball and the same tree on disk should become the same archive."""
    tree = tmp_path / "tree"
    (tree / "usr/bin").mkdir(parents=True)
    (tree / "usr/bin/a").write_bytes(b"a\n")
    (tree / "usr/bin/a").chmod(0o755)
    os.link(tree / "usr/bin/a", tree / "usr/bin/b")
    (tree / "bin").symlink_to("usr/bin")
    tar_path = tmp_path / "tree.tar"
    with tarfile.open(tar_path, "w") as tar:
        tar.add(tree, arcname=".")
    from_dir = write(list(initramfs.from_directory(tree)))
    from_tar = write(list(initramfs.from_tar(tar_path)))
    assert from_dir == from_tar
    root = tmp_path / "root"
    extract(from_tar, root)
    assert (root / "usr/bin/b").stat().st_ino == (root / "usr/bin/a").stat().st_ino


def test_initramfs_from_builder_entries_with_hard_links(tmp_path: Path) -> None:
    """The builder's tree entries (file, hardlink, symlink, dir) should unpack as in the image."""
    entries = [
        Entry("/usr/bin/python3.13", "file", 0o755, data=b"py"),
        Entry("/usr/bin/python3", "symlink", target="python3.13"),
        Entry("/usr/bin/py", "hardlink", 0o755, target="/usr/bin/python3.13"),
        Entry("/var/lib/docker", "dir", 0o710),
    ]
    root = tmp_path / "root"
    extract(write(list(initramfs.from_entries(entries))), root)
    assert (root / "usr/bin/py").read_bytes() == b"py"
    assert (root / "usr/bin/py").stat().st_ino == (root / "usr/bin/python3.13").stat().st_ino
    assert stat.S_IMODE((root / "var/lib/docker").stat().st_mode) == 0o710


def test_bare_kernel_members_add_console_init_and_images(tmp_path: Path) -> None:
    """The bare-kernel archive should hold /dev/console, /init -> the launcher and the images."""
    image = tmp_path / "busybox.tar"
    image.write_bytes(b"archive")
    rootfs = [initramfs.file(initramfs.LAUNCHER, b"#!/usr/bin/python3 -IS\n", 0o755)]
    root = tmp_path / "root"
    extract(write(list(initramfs.bare_kernel_members(rootfs, [], [image]))), root)
    assert os.readlink(root / "init") == initramfs.LAUNCHER
    assert stat.S_ISCHR((root / "dev/console").stat().st_mode)
    assert (root / "usr/share/docker-from-scratch/images/busybox.tar").read_bytes() == b"archive"


def test_bare_kernel_members_need_the_launcher() -> None:
    """A root file system without /usr/bin/dockerlaunch should be refused (no /init to run)."""
    with pytest.raises(BuildError, match="no /usr/bin/dockerlaunch"):
        list(initramfs.bare_kernel_members([initramfs.file("etc/x", b"")], []))
