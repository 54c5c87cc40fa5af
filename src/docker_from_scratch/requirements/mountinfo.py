"""/proc/self/mountinfo as typed entries, and the questions the mount steps ask of it.

Format: Documentation/filesystems/proc.rst, section 3.5 ("/proc/<pid>/mountinfo"):

    36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue
    (1)(2)(3)   (4)   (5)         (6)      (7)    (8) (9)    (10)      (11)

Paths escape space, tab, newline and backslash as three-digit octal (``\\040``).
Every helper answers for the *visible* mounts only: a mount stacked on top of another
(or on one of its parents' directories) hides the one below, which stays in the table.
Deciding on a hidden entry would, for example, take docker's read-only cgroup bind
mount for the fresh one on top of it.

Shared by the launcher's mount steps and the requirement probes (``check``), so both
read the table the same way. Standard library only, no typing at run time.
"""

from __future__ import annotations

import os

from docker_from_scratch.requirements.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

MOUNTINFO = "/proc/self/mountinfo"
_OCTAL_DIGITS = b"01234567"


def unescape(field: str) -> str:
    """Decode the kernel's octal escapes (``\\040`` is a space) in a mountinfo path.

    The escapes stand for bytes, so decoding works on bytes (UTF-8 names stay intact).
    Done by hand: ``re`` alone costs the launcher a few milliseconds to import.
    """
    if "\\" not in field:
        return field
    raw = field.encode("utf-8", "surrogateescape")
    out = bytearray()
    index = 0
    while index < len(raw):
        digits = raw[index + 1 : index + 4]
        if raw[index] == 0x5C and len(digits) == 3 and all(d in _OCTAL_DIGITS for d in digits):
            out.append(int(digits, 8) & 0xFF)
            index += 4
        else:
            out.append(raw[index])
            index += 1
    return out.decode("utf-8", "surrogateescape")


_FIELDS = (
    "mount_id", "parent_id", "device", "root", "mount_point",
    "options", "propagation", "fs_type", "source", "super_options",
)  # fmt: skip


class Mount(Record):
    """One line of mountinfo."""

    __slots__ = _FIELDS

    def __init__(
        self,
        *,
        mount_id: int,
        parent_id: int,
        device: str,  # "major:minor"
        root: str,  # the directory of the file system that is mounted here (bind mounts: not "/")
        mount_point: str,
        options: tuple[str, ...],  # per-mount options: rw/ro, nosuid, ...
        propagation: tuple[str, ...],  # optional fields: shared:N, master:N, propagate_from:N
        fs_type: str,
        source: str,
        super_options: tuple[str, ...],  # per-superblock options: for cgroup v1 the controllers
    ) -> None:
        self.mount_id = mount_id
        self.parent_id = parent_id
        self.device = device
        self.root = root
        self.mount_point = mount_point
        self.options = options
        self.propagation = propagation
        self.fs_type = fs_type
        self.source = source
        self.super_options = super_options

    @property
    def read_only(self) -> bool:
        """Writes fail when either the mount or its superblock is read-only."""
        return "ro" in self.options or "ro" in self.super_options

    @property
    def shared(self) -> bool:
        return any(tag.startswith("shared:") for tag in self.propagation)


def parse_line(line: str) -> Mount:
    """One mountinfo line; raises ValueError when it does not have the documented shape."""
    fields = line.split()
    try:
        separator = fields.index("-", 6)
    except ValueError:
        raise ValueError(f"mountinfo line without ' - ' separator: {line!r}") from None
    if len(fields) < separator + 3:
        raise ValueError(f"mountinfo line too short: {line!r}")
    return Mount(
        mount_id=int(fields[0]),
        parent_id=int(fields[1]),
        device=fields[2],
        root=unescape(fields[3]),
        mount_point=unescape(fields[4]),
        options=tuple(fields[5].split(",")),
        propagation=tuple(fields[6:separator]),
        fs_type=fields[separator + 1],
        source=unescape(fields[separator + 2]),
        super_options=tuple(fields[separator + 3].split(",")) if len(fields) > separator + 3 else (),
    )


def parse(text: str) -> list[Mount]:
    """All entries of a mountinfo text, in the kernel's order."""
    return [parse_line(line) for line in text.splitlines() if line.strip()]


# The last table read and its visible entries. A launch asks the table some thirty
# questions, most between two mounts that did not change it: parsing it and working out
# what is hidden every time cost the launcher ~5 ms per start (bench/, cProfile in the
# image). The file is still read at every question, so a change is never missed.
class _Last:
    path = ""
    text = ""
    entries: tuple[Mount, ...] = ()
    visible: list[Mount] | None = None


def _entries(path: str) -> tuple[Mount, ...]:
    with open(path) as handle:
        text = handle.read()
    if text != _Last.text or path != _Last.path:
        _Last.path, _Last.text, _Last.entries, _Last.visible = path, text, tuple(parse(text)), None
    return _Last.entries


def read(path: str = MOUNTINFO) -> list[Mount]:
    """Parse the current mount table (read fresh on every call: steps change it)."""
    return list(_entries(path))


def _covers(outer: str, inner: str) -> bool:
    """True when path ``inner`` is ``outer`` or lies below it."""
    return inner == outer or outer == "/" or inner.startswith(outer + "/")


def visible(mounts: Sequence[Mount]) -> list[Mount]:
    """The entries not hidden by a later mount, in table order.

    A mount is hidden when another is stacked on it (a child on its own mount point), or
    when its region is: a sibling (same parent) sits on a directory above it or on the
    same path (that sibling came later: a mount made on a path that already is a mount
    point gets that mount as parent), or its parent's region is hidden. A parent covered
    by a stacked child does not hide that child.
    """
    by_id = {mount.mount_id: mount for mount in mounts}
    children: dict[int, list[Mount]] = {}
    for mount in mounts:
        children.setdefault(mount.parent_id, []).append(mount)
    region_hidden: dict[int, bool] = {}

    def covered_by_sibling(mount: Mount) -> bool:
        for sibling in children.get(mount.parent_id, ()):
            if sibling is mount:
                continue
            if sibling.mount_point == mount.mount_point:
                if sibling.mount_id > mount.mount_id:
                    return True
            elif _covers(sibling.mount_point, mount.mount_point):
                return True
        return False

    def is_region_hidden(mount: Mount) -> bool:
        if mount.mount_id not in region_hidden:
            region_hidden[mount.mount_id] = False  # guards against a (corrupt) cycle
            parent = by_id.get(mount.parent_id)
            region_hidden[mount.mount_id] = covered_by_sibling(mount) or (
                parent is not None and parent is not mount and is_region_hidden(parent)
            )
        return region_hidden[mount.mount_id]

    def stacked_over(mount: Mount) -> bool:
        return any(
            child.mount_point == mount.mount_point and child is not mount for child in children.get(mount.mount_id, ())
        )

    return [mount for mount in mounts if not is_region_hidden(mount) and not stacked_over(mount)]


def _normalize(path: str) -> str:
    return os.path.normpath(os.path.join("/", path))


def _table(mounts: Iterable[Mount] | None) -> list[Mount]:
    """The visible entries of ``mounts`` (None: the current table), worked out once per table."""
    entries = _entries(MOUNTINFO) if mounts is None else tuple(mounts)
    if entries != _Last.entries:  # another table (a test's, a fixture's): not kept
        return visible(entries)
    if _Last.visible is None:
        _Last.visible = visible(entries)
    return list(_Last.visible)


def find(path: str, mounts: Iterable[Mount] | None = None) -> Mount | None:
    """The visible mount whose mount point is exactly ``path``, or None."""
    path = _normalize(path)
    found = [mount for mount in _table(mounts) if mount.mount_point == path]
    return found[-1] if found else None


def is_mountpoint(path: str, mounts: Iterable[Mount] | None = None) -> bool:
    """Is ``path`` a mount point (of a visible mount)?"""
    return find(path, mounts) is not None


def mounts_under(prefix: str, mounts: Iterable[Mount] | None = None) -> list[Mount]:
    """Visible mounts at ``prefix`` or below it, in table order (parents before children)."""
    prefix = _normalize(prefix)
    return [mount for mount in _table(mounts) if _covers(prefix, mount.mount_point)]


def containing(path: str, mounts: Iterable[Mount] | None = None) -> Mount | None:
    """The visible mount that ``path`` lives on (the deepest mount point above it)."""
    path = _normalize(path)
    best: Mount | None = None
    for mount in _table(mounts):
        if _covers(mount.mount_point, path) and (best is None or len(mount.mount_point) >= len(best.mount_point)):
            best = mount
    return best
