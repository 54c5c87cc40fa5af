"""API file systems (/proc, /dev, /sys, /run, /tmp ...) and mount propagation.

Each mount is checked against /proc/self/mountinfo first: what a container engine (or an
earlier launcher run) already set up is left alone, so a restarted container skips it.
Everything one call mounts sits in an Undo (launcher/undo.py): when a later mount of the same call
fails, the earlier ones are unmounted again and the step leaves nothing half-done.

Paths are joined under ``root`` so tests can run a step on a tmpfs in a private mount
namespace; kernel facts (/proc/filesystems, mountinfo) come from the caller's own /proc.
"""

from __future__ import annotations

import errno
import itertools
import os
import stat

from docker_from_scratch.launcher import log, syscalls
from docker_from_scratch.launcher.errors import LaunchError, describe_errno
from docker_from_scratch.launcher.syscalls import (
    MNT_DETACH,
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
    MS_SHARED,
)
from docker_from_scratch.launcher.undo import Undo
from docker_from_scratch.requirements import mountinfo
from docker_from_scratch.requirements.paths import find_program, kernel_filesystems, under

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

# Per-mount flags that show up in mountinfo's options column, to keep them on a remount.
_STAGING_NUMBERS = itertools.count()
# replace_tree's builder: mounts a new tree on the staging directory, registering undo.
if TYPE_CHECKING:
    BuildTree = Callable[[str, Undo], None]
_FLAG_OPTIONS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC}
# devpts: a private instance (the default since Linux 4.7, explicit for older kernels),
# /dev/ptmx usable by everybody, and terminals owned by group tty (gid 5) as on Debian.
DEVPTS_OPTIONS = "newinstance,ptmxmode=0666,mode=0620,gid=5"


def mount_hint(exc: OSError, fs_type: str | None, target: str) -> str:
    """What to do about a failed mount(2), by errno."""
    if exc.errno in (errno.EPERM, errno.EACCES):
        return "run the container with --privileged (CAP_SYS_ADMIN, no seccomp/AppArmor confinement)"
    if exc.errno == errno.ENODEV:
        return f"the kernel lacks the {fs_type} file system: load its module or use a kernel with it"
    if exc.errno == errno.EROFS:
        return f"the file system holding {target} is read-only"
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return f"{target} must be a directory"
    if exc.errno == errno.EBUSY:
        return f"something else is mounted on {target} or uses it"
    return "run with DOCKER_LAUNCH_DEBUG=true to see the steps before it"


def mount(
    source: str,
    target: str,
    fs_type: str | None,
    flags: int = 0,
    data: str = "",
    *,
    undo: Undo | None = None,
) -> None:
    """mount(2) with a one-line LaunchError; with ``undo``, a lazy unmount is registered."""
    try:
        syscalls.mount(source, target, fs_type, flags, data)
    except OSError as exc:
        if fs_type:
            what = f"mount {fs_type} on {target}"
        elif flags & MS_REMOUNT:
            what = f"remount {target}"
        elif flags & MS_BIND:
            what = f"bind-mount {source} on {target}"
        else:
            what = f"change the propagation of {target}"
        raise LaunchError(
            f"cannot {what}: {describe_errno(exc)}",
            hint=mount_hint(exc, fs_type, target),
        ) from exc
    if undo is not None:
        undo.callback(detach, target)


def detach(target: str) -> None:
    """Lazy unmount (MNT_DETACH) that tolerates an already gone mount: used for undo."""
    try:
        syscalls.umount(target, MNT_DETACH)
        log.debug(f"{target}: unmounted")
    except OSError as exc:
        log.debug(f"{target}: undo unmount failed ({describe_errno(exc)})")


def unmount(target: str) -> None:
    """Lazy unmount that must succeed: MNT_DETACH, since processes may still use the mount."""
    try:
        syscalls.umount(target, MNT_DETACH)
    except OSError as exc:
        raise LaunchError(
            f"cannot unmount {target}: {describe_errno(exc)}",
            hint=mount_hint(exc, None, target),
        ) from exc
    log.debug(f"{target}: unmounted (lazily)")


def make_directory(path: str, mode: int = 0o755) -> None:
    """mkdir -p with the mode set exactly (not masked by umask) on what was created."""
    if os.path.isdir(path):
        return
    parent = os.path.dirname(path)
    if parent != path:
        make_directory(parent, 0o755)
    try:
        os.mkdir(path)
        os.chmod(path, mode)
    except FileExistsError:
        if not os.path.isdir(path):
            raise LaunchError(f"{path} exists and is not a directory", hint=f"remove {path}") from None
    except OSError as exc:
        raise LaunchError(
            f"cannot create directory {path}: {describe_errno(exc)}",
            hint=mount_hint(exc, None, path),
        ) from exc


def flags_of(entry: mountinfo.Mount) -> int:
    """The MS_* flags of an existing mount's options (to keep them over a remount)."""
    flags = MS_RDONLY if entry.read_only else 0
    for option in entry.options:
        flags |= _FLAG_OPTIONS.get(option, 0)
    return flags


def _has_content(path: str) -> bool:
    try:
        return bool(os.listdir(path))
    except FileNotFoundError:
        return False
    except NotADirectoryError:
        return True


class staging_dir:  # lower case: ``with staging_dir(root) as path``, like the function it was
    """A temporary empty directory to build a mount tree before it replaces another.

    Under /run (our tmpfs, or the container's writable layer), else /tmp or /dev.
    """

    __slots__ = ("_path", "_root")

    def __init__(self, root: str = "/") -> None:
        self._root = root
        self._path = ""

    def __enter__(self) -> str:
        for candidate in ("/run", "/tmp", "/dev"):
            parent = under(self._root, candidate)
            if os.path.isdir(parent) and os.access(parent, os.W_OK):
                path = os.path.join(parent, f".dockerlaunch-{os.getpid()}-{next(_STAGING_NUMBERS)}")
                try:
                    os.mkdir(path, 0o700)
                except OSError:
                    continue
                self._path = path
                return path
        raise LaunchError(
            f"no writable directory for a staging mount under {self._root} (tried /run, /tmp, /dev)",
            hint="give the container a writable /run",
        )

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        try:
            os.rmdir(self._path)
        except OSError as exc:
            log.debug(f"{self._path}: staging directory not removed ({describe_errno(exc)})")


def replace_tree(target: str, build: BuildTree, root: str = "/") -> None:
    """Replace everything mounted at and below ``target`` with a tree ``build`` makes.

    ``build(stage, undo)`` mounts the new tree on an empty staging directory first, so a
    failure (unknown controller, missing file system) happens before anything old is
    touched and leaves the old tree as it was. Only then are the old mounts lazily
    unmounted (processes may use them), and the new tree is bind-mounted recursively
    onto ``target``. The old entries must go, not just be covered: runc takes the first
    matching cgroup line of mountinfo, which would be a covered read-only one.

    The old tree is kept as a recursive bind in a second staging directory until the new
    one is in place: when the final bind fails, the old tree goes back onto ``target``
    instead of leaving it empty (dockerd would then find no cgroups at all).
    """
    with staging_dir(root) as stage, Undo() as stage_mounts:
        build(stage, stage_mounts)
        with Undo() as keeping:
            kept = _keep_tree(target, root, keeping)
            unmount_all_under(target)
            make_directory(target)
            try:
                mount(stage, target, None, MS_BIND | MS_REC)
            except LaunchError:
                if kept is not None:
                    _put_back(kept, target)
                raise
        log.debug(f"{target}: replaced by a fresh tree")
        # leaving the with-block detaches the staging copy; the bind at target stays


def _keep_tree(target: str, root: str, undo: Undo) -> str | None:
    """A recursive bind of what is at ``target`` (None when there is nothing), in a
    staging directory; ``undo`` detaches it and removes the directory."""
    if not os.path.isdir(target):
        return None
    kept = undo.enter_context(staging_dir(root))
    mount(target, kept, None, MS_BIND | MS_REC)
    undo.callback(unmount, kept)
    # Private: unmounting the old tree at target must not propagate into the copy.
    mount("none", kept, None, MS_REC | MS_PRIVATE)
    return kept


def _put_back(kept: str, target: str) -> None:
    """Bind the kept old tree onto ``target`` again; if even that fails, say how to repair."""
    try:
        unmount_all_under(target)
        mount(kept, target, None, MS_BIND | MS_REC)
    except LaunchError as exc:
        raise LaunchError(
            f"{target} is left empty: putting the old tree back failed ({exc.message})",
            hint="restart the container: the next start mounts a fresh tree on the empty directory",
        ) from exc
    log.warn(f"{target}: the new tree could not be bound, the old one is back")


def unmount_all_under(target: str) -> None:
    """Lazily unmount everything at and below ``target``, stacked mounts included.

    Unmounting a top-level entry takes its children along; a mount it covered becomes
    visible and is taken in the next round.
    """
    for _ in range(64):
        entries = mountinfo.mounts_under(target)
        if not entries:
            return
        ids = {entry.mount_id for entry in entries}
        for entry in entries:
            if entry.parent_id not in ids:
                unmount(entry.mount_point)
    raise LaunchError(f"mounts below {target} keep coming back", hint="stop whatever mounts there")


# --- the API file systems ---------------------------------------------------------------


def _proc_available() -> bool:
    return os.path.exists(mountinfo.MOUNTINFO)


def mount_proc(root: str, undo: Undo) -> None:
    target = under(root, "/proc")
    if _proc_available():
        entry = mountinfo.find(target)
        if entry is not None and entry.fs_type == "proc":
            log.debug(f"{target}: already proc, skipped")
            return
    elif root != "/":
        raise LaunchError("/proc is not mounted", hint="mount proc on /proc before running the step")
    make_directory(target, 0o555)
    mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, undo=undo)
    log.debug(f"{target}: mounted proc")


def mount_dev(root: str, undo: Undo) -> None:
    """devtmpfs /dev unless /dev is already a mount with device nodes (docker's tmpfs)."""
    target = under(root, "/dev")
    entry = mountinfo.find(target)
    null = os.path.join(target, "null")
    has_nodes = os.path.exists(null) and stat.S_ISCHR(os.stat(null).st_mode)
    if entry is not None and has_nodes:
        log.debug(f"{target}: already {entry.fs_type} with device nodes, skipped")
    else:
        make_directory(target)
        mount("devtmpfs", target, "devtmpfs", MS_NOSUID, "mode=0755", undo=undo)
        log.debug(f"{target}: mounted devtmpfs")

    pts = os.path.join(target, "pts")
    entry = mountinfo.find(pts)
    if entry is not None and entry.fs_type == "devpts":
        log.debug(f"{pts}: already devpts, skipped")
    else:
        make_directory(pts)
        mount("devpts", pts, "devpts", MS_NOSUID | MS_NOEXEC, DEVPTS_OPTIONS, undo=undo)
        log.debug(f"{pts}: mounted devpts ({DEVPTS_OPTIONS})")

    # The ptmx of a private devpts instance is pts/ptmx; a /dev/ptmx character device also
    # finds it (Linux >= 4.7 looks up "pts" next to the node), so only a missing one is linked.
    ptmx = os.path.join(target, "ptmx")
    if os.path.lexists(ptmx):
        log.debug(f"{ptmx}: exists, skipped")
    else:
        os.symlink("pts/ptmx", ptmx)
        log.debug(f"{ptmx}: linked to pts/ptmx")

    _mount_unless(os.path.join(target, "shm"), "tmpfs", "shm", MS_NOSUID | MS_NODEV, "mode=1777",
                  mode=0o1777, undo=undo)  # fmt: skip
    _mount_unless(os.path.join(target, "mqueue"), "mqueue", "mqueue",
                  MS_NOSUID | MS_NODEV | MS_NOEXEC, "", mode=0o1777, undo=undo)  # fmt: skip


def _mount_unless(target: str, fs_type: str, source: str, flags: int, data: str, *, mode: int, undo: Undo) -> None:
    """Mount unless something is mounted there already (any type: the engine chose it)."""
    entry = mountinfo.find(target)
    if entry is not None:
        log.debug(f"{target}: already {entry.fs_type}, skipped")
        return
    make_directory(target, mode)
    mount(source, target, fs_type, flags, data, undo=undo)
    log.debug(f"{target}: mounted {fs_type}")


def mount_sys(root: str, undo: Undo) -> None:
    """A writable sysfs on /sys: dockerd and runc write below it.

    docker gives non-privileged containers (and, measured here, even ours with
    systempaths=unconfined) a read-only sysfs: a superblock of the container's network
    namespace, mounted ro. A fresh sysfs would not help: in the same network namespace it
    is that same read-only superblock (measured). A remount without MS_BIND makes the
    superblock writable; MS_BIND then clears a per-mount ro flag if one is left.
    """
    target = under(root, "/sys")
    entry = mountinfo.find(target)
    if entry is None or entry.fs_type != "sysfs":
        make_directory(target, 0o555)
        mount("sysfs", target, "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, undo=undo)
        log.debug(f"{target}: mounted sysfs")
        return
    if not entry.read_only and "ro" not in entry.super_options:
        log.debug(f"{target}: already a writable sysfs, skipped")
        return
    keep = flags_of(entry) & ~MS_RDONLY
    mount("none", target, None, MS_REMOUNT | keep)
    undo.callback(_remount_read_only, target, keep)
    after = mountinfo.find(target)
    if after is not None and after.read_only:
        mount("none", target, None, MS_REMOUNT | MS_BIND | keep)
    after = mountinfo.find(target)
    if after is None or after.read_only or "ro" in after.super_options:
        raise LaunchError(f"{target} stays read-only after a remount", hint="run the container with --privileged")
    log.debug(f"{target}: remounted read-write")


def _remount_read_only(target: str, keep: int) -> None:
    try:
        syscalls.mount("none", target, None, MS_REMOUNT | MS_RDONLY | keep)
        log.debug(f"{target}: remounted read-only (undo)")
    except OSError as exc:
        log.debug(f"{target}: undo remount failed ({describe_errno(exc)})")


def mount_tmpfs_if_empty(target: str, mode: int, undo: Undo) -> None:
    """tmpfs on ``target`` unless it is a mount, holds files or has mounts below it.

    A tmpfs over content would hide it (an image's /run files, docker's /run/secrets).
    """
    entry = mountinfo.find(target)
    if entry is not None:
        log.debug(f"{target}: already {entry.fs_type}, skipped")
        return
    below = mountinfo.mounts_under(target)
    if below or _has_content(target):
        log.debug(f"{target}: has content or mounts, no tmpfs (it would hide them), skipped")
        return
    make_directory(target, mode)
    mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, f"mode={mode:04o}", undo=undo)
    log.debug(f"{target}: mounted tmpfs")


def link_var_run(root: str) -> None:
    """/var/run -> ../run (the FHS link; dockerd's default socket path uses /var/run)."""
    link = under(root, "/var/run")
    if os.path.islink(link):
        log.debug(f"{link}: already a link to {os.readlink(link)}, skipped")
        return
    if os.path.isdir(link):
        if _has_content(link) or mountinfo.is_mountpoint(link):
            log.debug(f"{link}: a directory in use, not replaced by a link, skipped")
            return
        os.rmdir(link)
    make_directory(os.path.dirname(link))
    try:
        os.symlink("../run", link)
    except OSError as exc:
        raise LaunchError(
            f"cannot link {link} to ../run: {describe_errno(exc)}",
            hint=mount_hint(exc, None, link),
        ) from exc
    log.debug(f"{link}: linked to ../run")


def _apparmor_needs_parser(root: str) -> bool:
    """Would a visible securityfs make dockerd load AppArmor profiles it cannot load?

    dockerd enables AppArmor when /sys/kernel/security/apparmor exists and the module
    says Y; without apparmor_parser every `docker run` then fails on the missing profile.
    """
    try:
        with open(under(root, "/sys/module/apparmor/parameters/enabled")) as handle:
            enabled = handle.read().strip().startswith("Y")
    except OSError:
        return False
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    return enabled and find_program("apparmor_parser", path) is None


def mount_security_filesystems(root: str, undo: Undo, filesystems: set[str]) -> None:
    """Optional: securityfs and selinuxfs where the kernel has them; failures are not fatal."""
    wanted = (
        ("securityfs", "/sys/kernel/security"),
        ("selinuxfs", "/sys/fs/selinux"),
    )
    for fs_type, where in wanted:
        target = under(root, where)
        if fs_type not in filesystems or not os.path.isdir(target):
            log.debug(f"{target}: kernel has no {fs_type}, skipped")
            continue
        entry = mountinfo.find(target)
        if entry is not None:
            log.debug(f"{target}: already {entry.fs_type}, skipped")
            continue
        if fs_type == "securityfs" and _apparmor_needs_parser(root):
            log.debug(f"{target}: AppArmor is on but apparmor_parser is missing; "
                      "securityfs stays hidden so dockerd does not try to load profiles")  # fmt: skip
            continue
        try:
            mount(fs_type, target, fs_type, MS_NOSUID | MS_NODEV | MS_NOEXEC, undo=undo)
            log.debug(f"{target}: mounted {fs_type}")
        except LaunchError as exc:
            log.debug(f"{target}: optional {fs_type} not mounted: {exc.message}")


# What mount_api_filesystems may mount on or link: what lies below one can change under it.
API_MOUNT_POINTS = ("/proc", "/dev", "/sys", "/run", "/tmp", "/var/run")


def usable_before_api_filesystems(path: str) -> bool:
    """Can ``path`` be written before mount_api_filesystems: /proc is already there
    (docker mounts it), and neither ``path`` nor where its links lead lies below a mount
    point of that step (a tmpfs there would hide what was written)."""
    if not _proc_available():
        return False
    paths = {os.path.normpath(path), os.path.realpath(path)}
    return not any(
        candidate == point or candidate.startswith(point + "/") for candidate in paths for point in API_MOUNT_POINTS
    )


def mount_api_filesystems(root: str = "/") -> None:
    """Mount what Docker expects from a booted system, skipping what is already there.

    proc /proc; devtmpfs /dev (unless a mount with nodes is there), devpts /dev/pts,
    /dev/ptmx, tmpfs /dev/shm, mqueue /dev/mqueue; a writable sysfs /sys; tmpfs /run and
    /tmp when they are empty non-mounts; /var/run -> ../run; optional securityfs, selinuxfs.
    """
    with Undo() as undo:
        mount_proc(root, undo)
        mount_dev(root, undo)
        mount_tmpfs_if_empty(under(root, "/run"), 0o755, undo)
        mount_sys(root, undo)
        mount_tmpfs_if_empty(under(root, "/tmp"), 0o1777, undo)
        link_var_run(root)
        mount_security_filesystems(root, undo, kernel_filesystems())
        undo.pop_all()


def make_root_rshared(root: str = "/") -> None:
    """Make ``root`` and every mount below it shared (MS_REC|MS_SHARED).

    Volumes with bind propagation (rshared/rslave) and mounts made by dockerd for its
    containers must reach them; docker refuses `-v ...:rshared` on a private parent.
    """
    target = under(root, "/")
    entries = mountinfo.mounts_under(target)
    if not any(entry.mount_point == target for entry in entries):
        raise LaunchError(f"{target} is not a mount point", hint="mount propagation needs a mounted root")
    if all(entry.shared for entry in entries):
        log.debug(f"{target}: already rshared, skipped")
        return
    mount("none", target, None, MS_REC | MS_SHARED)
    log.debug(f"{target}: made rshared")
