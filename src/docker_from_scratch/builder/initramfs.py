"""A reproducible initramfs: the image's files, the kernel modules and /init, as cpio newc.

The kernel unpacks "newc" cpio archives (Documentation/driver-api/early-userspace/
buffer-format.rst): a 110-byte ASCII header per member, the name NUL-terminated and padded
to 4 bytes, the data padded to 4 bytes, and a ``TRAILER!!!`` member at the end.
Written uncompressed by default: measured on these machines, the kernel under TCG
unpacks an uncompressed archive faster than it inflates a gzip one.

Reproducible: members sorted by path, parents before children, owner root, one mtime
(``SOURCE_DATE_EPOCH`` or 0), inode numbers counted from 1 in writing order.
Hard links: the kernel links a member to an earlier one with the same inode when its
nlink is >= 2 (init/initramfs.c ``maybe_link``), so the first member carries the data and
the later ones are empty.
"""

import os
import posixpath
import stat
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from docker_from_scratch.builder.errors import BuildError
from docker_from_scratch.builder.tree import Entry
from docker_from_scratch.requirements import layout
from docker_from_scratch.requirements.layout import IMAGES_DIR

MAGIC = b"070701"
TRAILER = "TRAILER!!!"
CHUNK = 1 << 20
LAUNCHER = layout.LAUNCHER.lstrip("/")  # archive member names are relative


@dataclass(frozen=True)
class Member:
    """One cpio member: a path (no leading slash), its mode with type bits, its content."""

    path: str
    mode: int  # st_mode: type bits | permission bits
    data: bytes = b""
    source: Path | None = None  # regular file's bytes read from here when set
    rdev: tuple[int, int] = (0, 0)  # character/block devices
    link_group: str = ""  # members sharing a non-empty group are one inode (hard links)

    @property
    def size(self) -> int:
        if self.source is not None:
            return self.source.stat().st_size
        return len(self.data)


def directory(path: str, mode: int = 0o755) -> Member:
    return Member(path.strip("/"), stat.S_IFDIR | mode)


def symlink(path: str, target: str) -> Member:
    return Member(path.strip("/"), stat.S_IFLNK | 0o777, data=target.encode())


def file(path: str, data: bytes, mode: int = 0o644) -> Member:
    return Member(path.strip("/"), stat.S_IFREG | mode, data=data)


def char_device(path: str, major: int, minor: int, mode: int = 0o600) -> Member:
    return Member(path.strip("/"), stat.S_IFCHR | mode, rdev=(major, minor))


def from_entries(entries: Iterable[Entry]) -> Iterator[Member]:
    """The builder's tree entries (image.py's input) as cpio members."""
    for entry in entries:
        path = entry.path.strip("/")
        if entry.kind == "dir":
            yield Member(path, stat.S_IFDIR | entry.mode)
        elif entry.kind == "symlink":
            yield Member(path, stat.S_IFLNK | 0o777, data=entry.target.encode())
        elif entry.kind == "hardlink":
            yield Member(path, stat.S_IFREG | entry.mode, link_group=entry.target.strip("/"))
        else:
            yield Member(path, stat.S_IFREG | entry.mode, data=entry.data or b"", source=entry.source)


def from_directory(top: Path) -> Iterator[Member]:
    """Members for everything under ``top`` (a root file system unpacked on disk)."""
    first_link: dict[tuple[int, int], str] = {}  # (device, inode) -> first path seen
    for directory, dirs, files in os.walk(top):
        dirs.sort()
        for name in [*dirs, *sorted(files)]:
            path = Path(directory) / name
            info = path.lstat()
            relative = os.fspath(path.relative_to(top))
            mode = stat.S_IMODE(info.st_mode)
            if stat.S_ISDIR(info.st_mode):
                yield Member(relative, stat.S_IFDIR | mode)
            elif stat.S_ISLNK(info.st_mode):
                yield Member(relative, stat.S_IFLNK | 0o777, data=os.readlink(path).encode())
            elif stat.S_ISREG(info.st_mode):
                group = ""
                if info.st_nlink > 1:
                    group = first_link.setdefault((info.st_dev, info.st_ino), relative)
                    group = "" if group == relative else group
                yield Member(relative, stat.S_IFREG | mode, source=path, link_group=group)
            elif stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
                rdev = (os.major(info.st_rdev), os.minor(info.st_rdev))
                yield Member(relative, stat.S_IFMT(info.st_mode) | mode, rdev=rdev)


def from_tar(tar_path: Path) -> Iterator[Member]:
    """Members of a file-system tarball (``docker export``, ``docker-from-scratch export``).

    Regular files are read into memory one at a time, as the archive is written.
    """
    with tarfile.open(tar_path) as tar:
        for info in tar:
            path = posixpath.normpath(info.name).lstrip("/")
            if path in ("", "."):
                continue
            mode = info.mode & 0o7777
            if info.isdir():
                yield Member(path, stat.S_IFDIR | mode)
            elif info.issym():
                yield Member(path, stat.S_IFLNK | 0o777, data=info.linkname.encode())
            elif info.islnk():
                group = posixpath.normpath(info.linkname).lstrip("/")
                yield Member(path, stat.S_IFREG | mode, link_group=group)
            elif info.isfile():
                handle = tar.extractfile(info)
                assert handle is not None
                yield Member(path, stat.S_IFREG | mode, data=handle.read())
            elif info.ischr() or info.isblk():
                kind = stat.S_IFCHR if info.ischr() else stat.S_IFBLK
                yield Member(path, kind | mode, rdev=(info.devmajor, info.devminor))
            # fifos and sockets have no place in an image


def _header(ino: int, mode: int, nlink: int, mtime: int, size: int, rdev: tuple[int, int], namesize: int) -> bytes:
    fields = (ino, mode, 0, 0, nlink, mtime, size, 0, 0, rdev[0], rdev[1], namesize, 0)
    return MAGIC + b"".join(b"%08X" % value for value in fields)


def _pad(length: int) -> bytes:
    return b"\0" * (-length % 4)


class CpioWriter:
    """Writes newc members to a binary stream; :meth:`close` adds the trailer."""

    def __init__(self, out: BinaryIO, *, mtime: int = 0) -> None:
        self.out = out
        self.mtime = mtime
        self.next_ino = 1
        self.written: set[str] = set()
        self.offset = 0

    def _emit(self, data: bytes) -> None:
        self.out.write(data)
        self.offset += len(data)

    def _member(self, name: str, mode: int, nlink: int, size: int, rdev: tuple[int, int], ino: int) -> None:
        encoded = name.encode() + b"\0"
        header = _header(ino, mode, nlink, self.mtime, size, rdev, len(encoded))
        self._emit(header + encoded + _pad(len(header) + len(encoded)))

    def add(self, member: Member, *, ino: int | None = None, nlink: int = 1, with_data: bool = True) -> None:
        """Write one member (its parents must be written first)."""
        parent = posixpath.dirname(member.path)
        if parent and parent not in self.written:
            raise BuildError(f"initramfs: {member.path} comes before its directory {parent}")
        if ino is None:
            ino = self.next_ino
            self.next_ino += 1
        size = member.size if with_data else 0
        self._member(member.path, member.mode, nlink, size, member.rdev, ino)
        if size:
            if member.source is not None:
                with open(member.source, "rb") as handle:
                    copied = 0
                    while chunk := handle.read(CHUNK):
                        self._emit(chunk)
                        copied += len(chunk)
                if copied != size:
                    raise BuildError(f"initramfs: {member.source} changed while it was written")
            else:
                self._emit(member.data)
            self._emit(_pad(size))
        self.written.add(member.path)

    def close(self) -> None:
        self._member(TRAILER, 0, 1, 0, (0, 0), 0)
        # The kernel reads archives in 512-byte blocks too; pad like cpio(1) does.
        self._emit(_pad_to(self.offset, 512))


def _pad_to(offset: int, block: int) -> bytes:
    return b"\0" * (-offset % block)


def ordered(members: Iterable[Member]) -> list[Member]:
    """Sorted by path, later duplicates win, missing parent directories added (0755)."""
    by_path: dict[str, Member] = {}
    for member in members:
        by_path[member.path] = member
    for path in list(by_path):
        parent = posixpath.dirname(path)
        while parent and parent not in by_path:
            by_path[parent] = directory(parent)
            parent = posixpath.dirname(parent)
    # Sort by components so "a/b" comes right after "a", before "a-b".
    return [by_path[path] for path in sorted(by_path, key=lambda p: p.split("/"))]


def write_initramfs(members: Iterable[Member], out: BinaryIO, *, mtime: int | None = None) -> int:
    """Write the archive; returns its size in bytes."""
    if mtime is None:
        mtime = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    members = ordered(members)
    by_path = {m.path: m for m in members}
    # Hard-link groups: the first member in writing order holds the bytes of the group.
    groups: dict[str, list[Member]] = {}
    for member in members:
        if member.link_group:
            groups.setdefault(member.link_group, []).append(member)
    for name, linked in groups.items():
        target = by_path.get(name)
        if target is None or not stat.S_ISREG(target.mode):
            raise BuildError(f"initramfs: hard link {linked[0].path} -> {name} has no target")
        groups[name] = [target, *linked]
    inode_of: dict[str, int] = {}  # link group -> inode written for it
    writer = CpioWriter(out, mtime=mtime)
    for member in members:
        key = member.link_group or member.path
        group = groups.get(key)
        if group is None:
            writer.add(member)
        elif key not in inode_of:
            inode_of[key] = writer.next_ino
            writer.next_ino += 1
            content = group[0]
            writer.add(Member(member.path, content.mode, data=content.data, source=content.source),
                       ino=inode_of[key], nlink=len(group))  # fmt: skip
        else:
            writer.add(member, ino=inode_of[key], nlink=len(group), with_data=False)
    writer.close()
    return writer.offset


def bare_kernel_members(
    rootfs: Iterable[Member], modules: Iterable[Entry], images: Iterable[Path] = ()
) -> Iterator[Member]:
    """The image's files, the kernel modules, /dev/console, /init and images to load at boot.

    /dev/console must exist in the archive: the kernel opens it for init's stdin, stdout
    and stderr before devtmpfs is mounted. /init is the launcher itself (a symlink to its
    script), so the launcher is PID 1.
    """
    has_launcher = False
    for member in rootfs:
        has_launcher = has_launcher or member.path == LAUNCHER
        yield member
    if not has_launcher:
        raise BuildError(
            f"the root file system has no /{LAUNCHER}", hint="give the image's files (docker-from-scratch export)"
        )
    yield from from_entries(modules)
    yield char_device("dev/console", 5, 1)
    yield symlink("init", LAUNCHER)
    for image in images:
        yield Member(f"{IMAGES_DIR.strip('/')}/{image.name}", stat.S_IFREG | 0o644, source=image)
