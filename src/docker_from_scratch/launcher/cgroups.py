"""cgroups for dockerd: v1 hierarchies (hybrid hosts included) or the v2 unified tree.

Which version (decided from what is mounted, then from the kernel):

    /sys/fs/cgroup holds            kernel state                          version
    a cgroup2 mount                 -                                     v2
    cgroup (v1) mounts              "0::" line in /proc/self/cgroup       hybrid (used as v1)
    cgroup (v1) mounts              no "0::" line                         v1
    nothing                         a controller on a v1 hierarchy        v1 / hybrid as above
    nothing                         none on v1, cgroup2 in filesystems    v2
    nothing                         no cgroup2                            v1

v1: one ``cgroup`` mount per hierarchy of /proc/cgroups (controllers that share a
hierarchy id are co-mounted, e.g. cpu,cpuacct, with a symlink per controller), disabled
controllers and hierarchy 0 (not on v1) skipped, plus named hierarchies such as
name=systemd from /proc/self/cgroup. docker hands a container read-only bind mounts of
its own cgroup; a nested dockerd then fails ("mkdir /sys/fs/cgroup/cpuset/docker:
read-only file system", measured here). Those are replaced by a fresh tmpfs with fresh
read-write mounts, built aside first so a failure leaves the old tree in place.

v2: cgroup2 on /sys/fs/cgroup; processes of its root move to an ``init`` child and all
available controllers are enabled in cgroup.subtree_control ("no internal processes"
rule, Documentation/admin-guide/cgroup-v2.rst), retried while `docker exec` races in.
"""

from __future__ import annotations

import errno
import os

from docker_from_scratch.launcher import log, mounts
from docker_from_scratch.launcher.errors import LaunchError
from docker_from_scratch.launcher.syscalls import MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REMOUNT
from docker_from_scratch.launcher.undo import Undo
from docker_from_scratch.requirements import mountinfo
from docker_from_scratch.requirements.cgroupfs import Controller, parse_proc_cgroups
from docker_from_scratch.requirements.paths import kernel_filesystems, under
from docker_from_scratch.requirements.record import Record

TYPE_CHECKING = False  # typing costs ~6 ms inside the image: annotations only
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Literal

    Version = Literal["v1", "v2", "hybrid"]

CGROUP_ROOT = "/sys/fs/cgroup"
_FLAGS = MS_NOSUID | MS_NODEV | MS_NOEXEC
# Conventional co-mounts (systemd's) for a v1 layout built from nothing, where
# /proc/cgroups has no hierarchy ids to group by yet.
_COMOUNTS = (("cpu", "cpuacct"), ("net_cls", "net_prio"))
# Attempts to empty the root cgroup while processes (docker exec) keep joining it.
DELEGATE_ATTEMPTS = 20


class Membership(Record):
    """A line of /proc/self/cgroup: hierarchy id, its controllers (or name=...), our path."""

    __slots__ = ("hierarchy", "controllers", "path")

    def __init__(self, hierarchy: int, controllers: tuple[str, ...], path: str) -> None:
        self.hierarchy = hierarchy
        self.controllers = controllers
        self.path = path


class Hierarchy(Record):
    """One v1 mount to make: its controllers, or a single ``name=...`` for a named one."""

    __slots__ = ("controllers",)

    def __init__(self, controllers: tuple[str, ...]) -> None:
        self.controllers = controllers

    @property
    def directory(self) -> str:
        """Mount point below /sys/fs/cgroup: "cpu,cpuacct", "memory", "systemd"."""
        if self.is_named:
            return self.controllers[0].removeprefix("name=")
        return ",".join(self.controllers)

    @property
    def is_named(self) -> bool:
        return self.controllers[0].startswith("name=")

    @property
    def options(self) -> str:
        """mount(2) data: the controllers, or "none,name=X" for a named hierarchy."""
        return f"none,{self.controllers[0]}" if self.is_named else ",".join(self.controllers)

    @property
    def links(self) -> tuple[str, ...]:
        """Co-mounted controllers each get a symlink to the shared mount (cpu -> cpu,cpuacct)."""
        return self.controllers if len(self.controllers) > 1 else ()


def parse_self_cgroup(text: str) -> list[Membership]:
    """/proc/self/cgroup: "id:controllers:path" lines ("0::/path" is the v2 one)."""
    found = []
    for line in text.splitlines():
        if not line.strip():
            continue
        hierarchy, controllers, path = line.split(":", 2)
        found.append(Membership(int(hierarchy), tuple(c for c in controllers.split(",") if c), path))
    return found


def v1_hierarchies(controllers: Sequence[Controller], memberships: Sequence[Membership]) -> list[Hierarchy]:
    """The v1 mounts to make, in hierarchy-id order, named hierarchies last.

    Controllers are grouped by the hierarchy id the kernel already uses: mounting cpu
    alone where cpu and cpuacct share a hierarchy fails with EBUSY. A kernel with no v1
    hierarchy yet (nothing mounted since boot) gets one per controller, with the
    conventional co-mounts.
    """
    enabled = [c for c in controllers if c.enabled]
    grouped: dict[int, list[str]] = {}
    for controller in enabled:
        if controller.hierarchy != 0:
            grouped.setdefault(controller.hierarchy, []).append(controller.name)
    if grouped:
        result = [Hierarchy(tuple(sorted(names))) for _, names in sorted(grouped.items())]
    else:
        names = [c.name for c in enabled]
        result = []
        for group in _COMOUNTS:
            if all(name in names for name in group):
                result.append(Hierarchy(group))
                names = [name for name in names if name not in group]
        result += [Hierarchy((name,)) for name in names]
    for membership in memberships:
        named = [c for c in membership.controllers if c.startswith("name=")]
        if membership.hierarchy != 0 and named:
            result.append(Hierarchy((named[0],)))
    return result


def detect_version(
    base: str,
    table: Sequence[mountinfo.Mount],
    controllers: Sequence[Controller],
    memberships: Sequence[Membership],
    filesystems: set[str],
) -> Version:
    """v1, v2 or hybrid, by the table in the module docstring."""
    on_v2 = any(m.hierarchy == 0 and not m.controllers for m in memberships)
    here = mountinfo.mounts_under(base, table)
    top = mountinfo.find(base, table)
    if top is not None and top.fs_type == "cgroup2":
        return "v2"
    if any(m.fs_type == "cgroup" for m in here):
        return "hybrid" if on_v2 else "v1"
    if any(c.enabled and c.hierarchy != 0 for c in controllers):
        return "hybrid" if on_v2 else "v1"
    if "cgroup2" in filesystems:
        return "v2"
    return "v1"


def v1_problem(
    base: str, hierarchy: Hierarchy, table: Sequence[mountinfo.Mount], memberships: Sequence[Membership]
) -> str | None:
    """Why the mount for ``hierarchy`` is not usable by a nested dockerd, or None if it is."""
    target = os.path.join(base, hierarchy.directory)
    entry = mountinfo.find(target, table)
    if entry is None:
        return "missing"
    if entry.fs_type != "cgroup":
        return f"a {entry.fs_type} mount, not cgroup"
    if not set(hierarchy.controllers) <= set(entry.super_options):
        return f"mounted with {','.join(entry.super_options)}"
    if entry.read_only:
        return "read-only"
    # A bind of a sub-cgroup (docker gives /docker/<id>) only works if we live inside it.
    ours = own_path(hierarchy, memberships)
    if entry.root != "/" and not (ours.rstrip("/") + "/").startswith(entry.root.rstrip("/") + "/"):
        return f"a bind of {entry.root}, outside our cgroup {ours}"
    return None


def _read(path: str) -> str:
    with open(path) as handle:
        return handle.read()


def _link_controllers(base: str, hierarchy: Hierarchy) -> None:
    for name in hierarchy.links:
        link = os.path.join(base, name)
        if os.path.lexists(link):
            continue
        try:
            os.symlink(hierarchy.directory, link)
        except OSError as exc:
            raise LaunchError(
                f"cannot link {link} to {hierarchy.directory}: {os.strerror(exc.errno or 0)}",
                hint=f"make {base} writable",
            ) from exc
        log.debug(f"{link}: linked to {hierarchy.directory}")


def own_path(hierarchy: Hierarchy, memberships: Sequence[Membership]) -> str:
    """Our cgroup in ``hierarchy`` per /proc/self/cgroup ("/" when not listed)."""
    for membership in memberships:
        if membership.hierarchy != 0 and set(hierarchy.controllers) & set(membership.controllers):
            return membership.path
    return "/"


def _mount_hierarchy(base: str, hierarchy: Hierarchy, own: str, undo: Undo | None) -> None:
    """Mount ``hierarchy`` at base/<directory>, showing our own cgroup ``own`` as its root.

    Like docker --privileged: a nested dockerd then creates its containers below ours
    (/docker/<outer>/docker/<nested>), so the outer container's limits apply to them and
    the host engine's removal of the outer cgroup takes them along. Mounting the whole
    hierarchy instead (also measured to work) would put them beside the outer container.
    """
    target = os.path.join(base, hierarchy.directory)
    mounts.make_directory(target)
    if own == "/":
        mounts.mount("cgroup", target, "cgroup", _FLAGS, hierarchy.options, undo=undo)
        log.debug(f"{target}: mounted cgroup ({hierarchy.options})")
    else:
        whole = os.path.join(base, f".{hierarchy.directory}.whole")
        mounts.make_directory(whole)
        try:
            mounts.mount("cgroup", whole, "cgroup", _FLAGS, hierarchy.options)
            source = os.path.normpath(whole + own)
            if not os.path.isdir(source):
                log.debug(f"{target}: our cgroup {own} is not in the hierarchy, mounting all of it")
                source = whole
            mounts.mount(source, target, None, MS_BIND, undo=undo)
        finally:
            mounts.detach(whole)
            os.rmdir(whole)
        log.debug(f"{target}: mounted cgroup ({hierarchy.options}), rooted at our cgroup {own}")
    _link_controllers(base, hierarchy)


def _build_v1_tree(
    hierarchies: Sequence[Hierarchy], memberships: Sequence[Membership], unified: bool
) -> mounts.BuildTree:
    def build(stage: str, undo: Undo) -> None:
        # Only the staging tmpfs is registered: its lazy unmount takes the rest along.
        mounts.mount("tmpfs", stage, "tmpfs", _FLAGS, "mode=0755", undo=undo)
        for hierarchy in hierarchies:
            _mount_hierarchy(stage, hierarchy, own_path(hierarchy, memberships), None)
        if unified:
            target = os.path.join(stage, "unified")
            mounts.make_directory(target)
            mounts.mount("cgroup2", target, "cgroup2", _FLAGS)

    return build


def mount_v1(root: str, hierarchies: Sequence[Hierarchy], memberships: Sequence[Membership]) -> None:
    """Make every v1 hierarchy a read-write cgroup mount below /sys/fs/cgroup.

    All usable: skipped. Some missing on a writable tmpfs: added there. Anything
    read-only or foreign: the whole tree is replaced (docker's bind mounts are all alike).
    """
    base = under(root, CGROUP_ROOT)
    table = mountinfo.read()
    problems = {h.directory: v1_problem(base, h, table, memberships) for h in hierarchies}
    present = mountinfo.mounts_under(base, table)
    top = mountinfo.find(base, table)
    if not present:
        with Undo() as undo:
            mounts.make_directory(base)
            mounts.mount("tmpfs", base, "tmpfs", _FLAGS, "mode=0755", undo=undo)
            log.debug(f"{base}: mounted tmpfs")
            for hierarchy in hierarchies:
                _mount_hierarchy(base, hierarchy, own_path(hierarchy, memberships), undo)
            undo.pop_all()
        return
    wrong = {name: problem for name, problem in problems.items() if problem not in (None, "missing")}
    base_usable = top is not None and top.fs_type == "tmpfs" and not top.read_only
    if not wrong and base_usable:
        with Undo() as undo:
            for hierarchy in hierarchies:
                if problems[hierarchy.directory] is None:
                    log.debug(f"{os.path.join(base, hierarchy.directory)}: already a usable cgroup mount, skipped")
                    _link_controllers(base, hierarchy)
                else:
                    _mount_hierarchy(base, hierarchy, own_path(hierarchy, memberships), undo)
            undo.pop_all()
        return
    reasons = "; ".join(f"{name}: {problem}" for name, problem in wrong.items()) or f"{base} is not a writable tmpfs"
    log.debug(f"{base}: replacing the cgroup tree ({reasons})")
    unified = any(m.fs_type == "cgroup2" and m.mount_point == os.path.join(base, "unified") for m in present)
    mounts.replace_tree(base, _build_v1_tree(hierarchies, memberships, unified), root)


def mount_v2(root: str) -> str:
    """cgroup2 read-write on /sys/fs/cgroup; returns the mount point."""
    base = under(root, CGROUP_ROOT)
    entry = mountinfo.find(base)
    if entry is not None and entry.fs_type == "cgroup2":
        if not entry.read_only:
            log.debug(f"{base}: already a writable cgroup2, skipped")
            return base
        keep = mounts.flags_of(entry) & ~MS_RDONLY
        try:
            mounts.mount("none", base, None, MS_REMOUNT | MS_BIND | keep)
            log.debug(f"{base}: remounted read-write")
            return base
        except LaunchError as exc:
            log.debug(f"{base}: {exc.message}; mounting a fresh cgroup2")

        def build(stage: str, undo: Undo) -> None:
            mounts.mount("cgroup2", stage, "cgroup2", _FLAGS, undo=undo)

        mounts.replace_tree(base, build, root)
        return base
    if mountinfo.mounts_under(base):
        raise LaunchError(
            f"{base} holds cgroup v1 or other mounts, cannot mount cgroup2 there",
            hint="run without forcing cgroup v2, or start the container with a cgroup2 /sys/fs/cgroup",
        )
    mounts.make_directory(base)
    mounts.mount("cgroup2", base, "cgroup2", _FLAGS)
    log.debug(f"{base}: mounted cgroup2")
    return base


def _move_processes(source: str, target: str) -> int:
    """Move every pid of ``source``/cgroup.procs to ``target``; returns how many moved."""
    moved = 0
    for pid in _read(os.path.join(source, "cgroup.procs")).split():
        if pid == "0":
            # A process outside our PID namespace: we cannot name it (writing 0 would
            # move ourselves); if it stays, the retries end with an error.
            continue
        try:
            with open(os.path.join(target, "cgroup.procs"), "w") as procs:
                procs.write(pid)
            moved += 1
        except OSError as exc:
            # ESRCH: it exited meanwhile; EINVAL: a kernel thread (only in the true root).
            if exc.errno not in (errno.ESRCH, errno.EINVAL):
                raise LaunchError(
                    f"cannot move process {pid} into {target}: {os.strerror(exc.errno or 0)}",
                    hint="run the container with --privileged",
                ) from exc
    return moved


def delegate_controllers(base: str, attempts: int = DELEGATE_ATTEMPTS) -> list[str]:
    """Enable every controller of cgroup ``base`` for its children; returns those enabled.

    A non-root cgroup with processes cannot enable controllers (EBUSY), so its processes
    move to ``base``/init first, as docker:dind does. Processes entering meanwhile (a
    `docker exec`) make the write fail again: move and retry.
    """
    available = _read(os.path.join(base, "cgroup.controllers")).split()
    enabled = _read(os.path.join(base, "cgroup.subtree_control")).split()
    missing = [name for name in available if name not in enabled]
    if not missing:
        log.debug(f"{base}: controllers already delegated ({' '.join(enabled) or 'none available'}), skipped")
        return []
    init = os.path.join(base, "init")
    request = " ".join(f"+{name}" for name in missing)
    for _ in range(attempts):
        try:
            with open(os.path.join(base, "cgroup.subtree_control"), "w") as control:
                control.write(request)
            log.debug(f"{base}: enabled controllers {' '.join(missing)}")
            return missing
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                raise LaunchError.from_os(
                    f"enable cgroup controllers ({request}) in {base}", exc, hint="run the container with --privileged"
                ) from exc
        mounts.make_directory(init)
        moved = _move_processes(base, init)
        log.debug(f"{base}: moved {moved} processes into {init}")
    raise LaunchError(
        f"cannot enable cgroup controllers in {base}: processes keep entering it",
        hint="retry once nothing runs `docker exec` against the container",
    )


def mount_cgroups(
    root: str = "/",
    *,
    version: Version | None = None,
    proc_cgroups: str = "/proc/cgroups",
    self_cgroup: str = "/proc/self/cgroup",
) -> Version:
    """Mount the cgroup file systems dockerd needs; returns the version used.

    ``version`` forces v1/v2 (tests, hosts where detection is wrong); the /proc paths
    can be pointed at fixture files (tests of failure handling).
    """
    controllers = parse_proc_cgroups(_read(proc_cgroups))
    memberships = parse_self_cgroup(_read(self_cgroup))
    base = under(root, CGROUP_ROOT)
    detected = detect_version(base, mountinfo.read(), controllers, memberships, kernel_filesystems())
    chosen: Version = version or detected
    if chosen == "v2":
        log.info("cgroups: v2 (unified)")
        delegate_controllers(mount_v2(root))
        return chosen
    hierarchies = v1_hierarchies(controllers, memberships)
    names = " ".join(h.directory for h in hierarchies)
    log.info(f"cgroups: {'v1 on a hybrid host' if chosen == 'hybrid' else 'v1'} ({names})")
    if not hierarchies:
        raise LaunchError("no cgroup controller is enabled in /proc/cgroups", hint="boot with cgroups enabled")
    mount_v1(root, hierarchies, memberships)
    return chosen
