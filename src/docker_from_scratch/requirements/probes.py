"""Probes: one function per probe kind the table names; each returns ``Result`` data.

Every probe reads /proc, /sys and the file tree under ``root`` (default "/"), so unit
tests point it at a fixture tree, and never starts a process: ``check`` and the
launcher's pre-flight run all of them at every start and must answer in milliseconds.
Standard library only, and only cheap modules (no re, json, pathlib, shutil,
subprocess): the launcher imports this file inside the image.

The readers the probes share with other modules live below them: paths (files under a
root, programs on PATH), modules (where a kernel module stands), mountinfo, cgroupfs.
"""

from __future__ import annotations

import os
import stat

from docker_from_scratch.requirements import mountinfo
from docker_from_scratch.requirements.cgroupfs import parse_proc_cgroups
from docker_from_scratch.requirements.modules import (
    ModuleState,
    kernel_config,
    kernel_release,
    loaded_modules,
    module_state,
)
from docker_from_scratch.requirements.mountinfo import Mount
from docker_from_scratch.requirements.paths import (
    find_library,
    find_program,
    is_executable,
    kernel_filesystems,
    nearest_existing,
    read_optional,
    resolve,
    under,
)
from docker_from_scratch.requirements.record import Record
from docker_from_scratch.requirements.table import Requirement

TYPE_CHECKING = False  # plain classes and no typing at run time: see table.py
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable


class Result(Record):
    """What one probe found: ``detail`` says what was seen, ``hint`` how to fix it."""

    __slots__ = ("ok", "detail", "hint")

    def __init__(self, ok: bool, detail: str, hint: str = "") -> None:
        self.ok = ok
        self.detail = detail
        self.hint = hint


if TYPE_CHECKING:
    Probe = Callable[[Requirement, str], Result]


# --- small readers ------------------------------------------------------------------------


def _status_field(root: str, field: str) -> str | None:
    """One field of /proc/self/status ('CapEff', 'Uid', 'Seccomp'), or None."""
    text = read_optional(root, "/proc/self/status")
    if text is None:
        return None
    prefix = field + ":"
    for line in text.splitlines():
        if line.startswith(prefix):
            return line[len(prefix) :].strip()
    return None


# --- mountinfo ------------------------------------------------------------------------------


def read_mounts(root: str = "/") -> list[Mount]:
    """The mount table under ``root`` (a fixture tree in tests), [] when unreadable."""
    text = read_optional(root, "/proc/self/mountinfo")
    return mountinfo.parse(text) if text is not None else []


def _existing_on_mount(root: str, path: str) -> str:
    """``path`` or its nearest existing ancestor, with links resolved on the live root."""
    existing = nearest_existing(path, root)
    return os.path.realpath(existing) if root in ("", "/") else existing


def mount_of(path: str, mounts: Iterable[Mount]) -> Mount | None:
    """The visible mount ``path`` lives on (see ``mountinfo.containing``)."""
    return mountinfo.containing(path, mounts)


# --- kernel modules and config --------------------------------------------------------------

def _modules_hint(row: Requirement, state: ModuleState) -> str:
    if state.evidence.startswith("not loaded, and no /lib/modules"):
        return f"{row.fix}; or mount the host's modules: -v /lib/modules:/lib/modules:ro"
    return row.fix


# --- probes: one per probe kind ----------------------------------------------------------------


def probe_program(row: Requirement, root: str = "/") -> Result:
    """The row's program is on PATH and executable."""
    found = find_program(row.target, root=root, dist=True)
    if found:
        return Result(True, found)
    return Result(False, f"no {row.target} on PATH", row.fix)


def probe_library(row: Requirement, root: str = "/") -> Result:
    """The row's shared library (a soname) is where the dynamic loader looks."""
    found = find_library(row.target, root)
    if found:
        return Result(True, found)
    return Result(False, f"no {row.target} in the loader's directories", row.fix)


def probe_file(row: Requirement, root: str = "/") -> Result:
    """The row's file exists and is not empty. For /etc files the image's default under
    /usr/etc counts too: dockerlaunch copies it into /etc where missing (the export
    tarball, added onto another distribution, carries only /usr/etc)."""
    found = _non_empty_file(root, row.target)
    if found:
        return Result(True, row.target)
    default = "/usr" + row.target if row.target.startswith("/etc/") else ""
    if default and _non_empty_file(root, default):
        return Result(True, f"{default} (dockerlaunch copies it to {row.target})")
    if found is None:
        return Result(False, f"no {row.target}", row.fix)
    return Result(False, f"{row.target} is empty or not a regular file", row.fix)


def _non_empty_file(root: str, path: str) -> bool | None:
    """True for a non-empty regular file, False for anything else there, None if absent."""
    try:
        info = os.stat(resolve(root, path))
    except OSError:
        return None
    return stat.S_ISREG(info.st_mode) and info.st_size > 0


# git's own subcommands in Debian's build; they need no file in git-core (the links there
# are only for old scripts), while git-submodule is a shell script that must be present.
GIT_BUILTINS = frozenset({"clone", "checkout", "fetch", "init", "config", "remote"})
GIT_EXEC_DIRS = ("/usr/lib/git-core", "/usr/libexec/git-core")


def probe_git_subcommand(row: Requirement, root: str = "/") -> Result:
    """`git <target>` can run: git on PATH and the subcommand built in or in git-core;
    for a script, its interpreter and the commands named in extra['needs'] too."""
    git = find_program("git", root=root, dist=True)
    if git is None:
        return Result(False, "no git on PATH", row.fix)
    name = f"git-{row.target}"
    dirs = [os.environ["GIT_EXEC_PATH"]] if os.environ.get("GIT_EXEC_PATH") else []
    for directory in [*dirs, *GIT_EXEC_DIRS]:
        path = f"{directory}/{name}"
        resolved = resolve(root, path)
        if not os.path.isfile(resolved):
            continue
        with open(resolved, "rb") as file:
            head = file.read(128)
        if not head.startswith(b"#!"):
            return Result(True, path)
        interpreter = head[2:].split(b"\n", 1)[0].strip().split(b" ")[0].decode()
        missing = [interpreter] if not is_executable(interpreter, root) else []
        missing += [need for need in row.extra.get("needs", "").split() if not find_program(need, root=root, dist=True)]
        if missing:
            return Result(False, f"{path} is a script; missing {', '.join(missing)}", row.fix)
        return Result(True, f"{path} (script; {interpreter} found)")
    if row.target in GIT_BUILTINS:
        return Result(True, f"built into {git}")
    return Result(False, f"no {name} in {' or '.join(GIT_EXEC_DIRS)}", row.fix)


def probe_filesystem(row: Requirement, root: str = "/") -> Result:
    """The kernel offers the file system type (/proc/filesystems), or its module loads."""
    if row.target in kernel_filesystems(root):
        return Result(True, f"{row.target} in /proc/filesystems")
    state = module_state(row.target, root)
    if state.state == "loadable":
        return Result(True, state.describe(row.target))
    return Result(False, state.describe(row.target), _modules_hint(row, state))


def probe_not_overlay(row: Requirement, root: str = "/") -> Result:
    """The data root (or its nearest existing parent) is not on overlayfs."""
    path = _existing_on_mount(root, row.target)
    mount = mount_of(path, read_mounts(root))
    if mount is None:
        return Result(False, f"no mount found for {path} in /proc/self/mountinfo", row.fix)
    where = f"{row.target} is on {mount.fs_type} (mounted at {mount.mount_point})"
    if mount.fs_type == "overlay":
        return Result(False, where, row.fix)
    return Result(True, where)


def probe_module(row: Requirement, root: str = "/") -> Result:
    """The kernel module is loaded, built in, or loadable from /lib/modules."""
    state = module_state(row.target, root)
    if state.available:
        return Result(True, state.describe(row.target))
    return Result(False, state.describe(row.target), _modules_hint(row, state))


# Docker's NAT works through either stack: iptables-nft needs nf_tables with the nat
# chain type and the xt compatibility layer (for -m addrtype, MASQUERADE); legacy
# iptables needs ip_tables and its nat table. Both sit on nf_nat.
NAT_STACKS: dict[str, tuple[str, ...]] = {
    "nf_tables": ("nf_nat", "nf_tables", "nft_chain_nat", "nft_compat"),
    "legacy": ("nf_nat", "ip_tables", "iptable_nat"),
}


def probe_netfilter(row: Requirement, root: str = "/") -> Result:
    """Some netfilter stack offers NAT: nf_tables or legacy ip_tables."""
    if "nat" in (read_optional(root, "/proc/net/ip_tables_names") or "").split():
        return Result(True, "legacy nat table in /proc/net/ip_tables_names")
    reports = []
    for stack, modules in NAT_STACKS.items():
        states = {name: module_state(name, root) for name in modules}
        missing = [name for name, state in states.items() if not state.available]
        if not missing:
            return Result(True, f"{stack}: {', '.join(modules)} available")
        reports.append(f"{stack}: " + "; ".join(states[name].describe(name) for name in missing))
    return Result(False, " / ".join(reports), row.fix)


def probe_modules_dir(row: Requirement, root: str = "/") -> Result:
    """Modules the table needs are in the kernel already, or /lib/modules/<release> is
    here to load them from (docker:dind's advice: -v /lib/modules:/lib/modules:ro)."""
    release = kernel_release(root)
    moddir = f"/lib/modules/{release}"
    states = {name: module_state(name, root) for name in row.target.split()}
    pending = [name for name, state in states.items() if state.state not in ("loaded", "built in")]
    if not pending:
        return Result(True, "all loaded or built in: nothing to load")
    if os.path.isdir(under(root, moddir)):
        return Result(True, f"{moddir} present to load {', '.join(pending)}")
    if loaded_modules(root) is None and os.path.isdir(under(root, "/proc/self")):
        return Result(True, "the kernel has no loadable modules (CONFIG_MODULES unset)")
    return Result(False, f"no {moddir}; not loaded: {', '.join(pending)}", row.fix)


class CgroupLayout(Record):
    """How cgroups are mounted here: version and the controllers each version offers."""

    __slots__ = ("version", "mounts", "v1_controllers", "v2_controllers")

    def __init__(
        self,
        version: str,  # v2, v1, hybrid, none
        mounts: tuple[Mount, ...],
        v1_controllers: frozenset[str],
        v2_controllers: frozenset[str],
    ) -> None:
        self.version = version
        self.mounts = mounts
        self.v1_controllers = v1_controllers
        self.v2_controllers = v2_controllers


CGROUP_ROOT = "/sys/fs/cgroup"


def cgroup_layout(root: str = "/") -> CgroupLayout:
    """v2 when /sys/fs/cgroup itself is cgroup2; v1 with hierarchies below it; hybrid when
    both (systemd's layout, and this build machine's: an empty cgroup2 at .../unified)."""
    mounts = tuple(
        m
        for m in read_mounts(root)
        if m.fs_type in ("cgroup", "cgroup2")
        and (m.mount_point == CGROUP_ROOT or m.mount_point.startswith(CGROUP_ROOT + "/"))
    )
    v1 = frozenset(
        opt
        for m in mounts
        if m.fs_type == "cgroup"
        for opt in m.super_options
        if opt not in ("rw", "ro") and "=" not in opt
    )
    v2_mount = next((m for m in reversed(mounts) if m.fs_type == "cgroup2"), None)
    v2: frozenset[str] = frozenset()
    if v2_mount is not None:
        text = read_optional(root, f"{v2_mount.mount_point}/cgroup.controllers") or ""
        v2 = frozenset(text.split())
    has_v1 = any(m.fs_type == "cgroup" for m in mounts)
    if v2_mount is not None and v2_mount.mount_point == CGROUP_ROOT:
        version = "v2"
    elif has_v1:
        version = "hybrid" if v2_mount is not None else "v1"
    else:
        version = "v2" if v2_mount is not None else "none"
    return CgroupLayout(version, mounts, v1, v2)


def _proc_cgroups(root: str) -> dict[str, bool] | None:
    """Controllers the kernel has, and whether each is enabled (/proc/cgroups)."""
    text = read_optional(root, "/proc/cgroups")
    if text is None:
        return None
    return {controller.name: controller.enabled for controller in parse_proc_cgroups(text)}


def probe_cgroup_fs(row: Requirement, root: str = "/") -> Result:
    """The kernel offers cgroups (v1 or v2); the detail says how they are mounted."""
    layout = cgroup_layout(root)
    names = kernel_filesystems(root)
    kernel = [fs for fs in ("cgroup2", "cgroup") if fs in names]
    if layout.version == "v2":
        return Result(True, f"cgroup v2 at {CGROUP_ROOT}")
    if layout.version in ("v1", "hybrid"):
        count = sum(1 for m in layout.mounts if m.fs_type == "cgroup")
        extra = " plus cgroup2" if layout.version == "hybrid" else ""
        return Result(True, f"cgroup v1: {count} hierarchies{extra} under {CGROUP_ROOT}")
    if kernel:
        return Result(True, f"kernel offers {' and '.join(kernel)}; none mounted yet")
    return Result(False, "no cgroup file system in /proc/filesystems", row.fix)


def probe_cgroup_writable(row: Requirement, root: str = "/") -> Result:
    """The cgroup hierarchies are mounted read-write (dockerd creates a cgroup per container)."""
    layout = cgroup_layout(root)
    if not layout.mounts:
        return Result(False, f"no cgroup file system mounted under {row.target}", row.fix)
    read_only = [m.mount_point for m in layout.mounts if m.read_only]
    if read_only:
        names = ", ".join(p if p == CGROUP_ROOT else os.path.basename(p) for p in read_only)
        counted = f"{len(read_only)} of {len(layout.mounts)}"
        return Result(False, f"read-only cgroup mounts ({counted}): {names}", row.fix)
    return Result(True, f"all {len(layout.mounts)} cgroup mounts read-write")


def probe_cgroup_controller(row: Requirement, root: str = "/") -> Result:
    """v2: the controller is in cgroup.controllers; v1: /proc/cgroups has it enabled."""
    name = row.target
    layout = cgroup_layout(root)
    if layout.version == "v2":
        if name in layout.v2_controllers:
            return Result(True, f"{name} in cgroup.controllers (v2)")
        have = " ".join(sorted(layout.v2_controllers)) or "none"
        return Result(False, f"{name} not in cgroup.controllers (v2 offers: {have})", row.fix)
    if name in layout.v2_controllers:
        return Result(True, f"{name} on the cgroup2 hierarchy")
    kernel = _proc_cgroups(root)
    if kernel is None:
        if name in layout.v1_controllers:
            return Result(True, f"{name} hierarchy mounted (v1)")
        return Result(False, f"no /proc/cgroups and no {name} hierarchy mounted", row.fix)
    if name not in kernel:
        return Result(False, f"kernel has no {name} controller (/proc/cgroups)", row.fix)
    if not kernel[name]:
        return Result(False, f"{name} disabled in /proc/cgroups (cgroup_disable=?)", row.fix)
    mounted = "mounted" if name in layout.v1_controllers else "not mounted yet"
    return Result(True, f"{name} enabled in /proc/cgroups (v1, {mounted})")


def probe_cgroup_devices(row: Requirement, root: str = "/") -> Result:
    """v1: the devices controller; v2: cgroup BPF, which runc uses to filter devices."""
    layout = cgroup_layout(root)
    if layout.version != "v2":
        return probe_cgroup_controller(row.replace(target="devices"), root)
    cgroup_bpf = kernel_config("CONFIG_CGROUP_BPF", root)
    if cgroup_bpf == "y":
        return Result(True, "v2: BPF device controller (CONFIG_CGROUP_BPF=y)")
    if cgroup_bpf == "n":
        return Result(False, "v2 without CONFIG_CGROUP_BPF: no device controller", row.fix)
    if os.path.exists(under(root, "/proc/sys/kernel/unprivileged_bpf_disabled")):
        return Result(True, "v2: the kernel has bpf(2) (no kernel config to confirm CGROUP_BPF)")
    return Result(False, "v2 and no sign of bpf(2) in /proc/sys/kernel", row.fix)


def probe_namespaces(row: Requirement, root: str = "/") -> Result:
    """Each namespace type named in the target has an entry in /proc/self/ns."""
    names = row.target.split()
    missing = [n for n in names if not os.path.lexists(under(root, f"/proc/self/ns/{n}"))]
    if missing:
        return Result(False, f"no {', '.join(missing)} in /proc/self/ns", row.fix)
    return Result(True, " ".join(names))


def probe_seccomp(row: Requirement, root: str = "/") -> Result:
    """The kernel filters syscalls with seccomp (CONFIG_SECCOMP_FILTER)."""
    mode = _status_field(root, "Seccomp")
    if mode is None:
        return Result(False, "no Seccomp line in /proc/self/status", row.fix)
    actions = read_optional(root, "/proc/sys/kernel/seccomp/actions_avail")
    if actions is None and _status_field(root, "Seccomp_filters") is None:
        return Result(False, "no seccomp filter support (CONFIG_SECCOMP_FILTER)", row.fix)
    under = "; this process is filtered already" if mode == "2" else ""
    return Result(True, f"seccomp filters supported{under}")


def probe_root(row: Requirement, root: str = "/") -> Result:
    """The effective uid is 0 (second field of Uid: in /proc/self/status)."""
    uids = (_status_field(root, "Uid") or "").split()
    euid = int(uids[1]) if len(uids) > 1 else os.geteuid()
    if euid == 0:
        return Result(True, "uid 0")
    return Result(False, f"running as uid {euid}", row.fix)


# capability(7) names in the order of their numbers (linux/capability.h).
_CAPABILITY_NAMES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
    "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
    "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
    "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)  # fmt: skip
CAPABILITIES: dict[str, int] = {name: number for number, name in enumerate(_CAPABILITY_NAMES)}


def effective_capabilities(root: str = "/") -> int | None:
    """CapEff of this process as a bit mask, or None without /proc."""
    value = _status_field(root, "CapEff")
    return int(value, 16) if value else None


def probe_capability(row: Requirement, root: str = "/") -> Result:
    """Every capability named in the target is in CapEff."""
    mask = effective_capabilities(root)
    if mask is None:
        return Result(False, "no CapEff in /proc/self/status", row.fix)
    names = row.target.split()
    missing = [n for n in names if not mask >> CAPABILITIES[n] & 1]
    if missing:
        return Result(False, f"CapEff {mask:016x} lacks {', '.join(missing)}", row.fix)
    return Result(True, f"CapEff {mask:016x} has {row.target if len(names) == 1 else 'all'}")


def probe_writable(row: Requirement, root: str = "/") -> Result:
    """The target's mount is not read-only (mountinfo flags)."""
    path = _existing_on_mount(root, row.target)
    mount = mount_of(path, read_mounts(root))
    if mount is None:
        return Result(False, f"{row.target} is not mounted", row.fix)
    if mount.read_only:
        where = f"{mount.fs_type} at {mount.mount_point}"
        return Result(False, f"{row.target} is read-only ({where})", row.fix)
    return Result(True, f"{row.target} is read-write ({mount.fs_type})")


def probe_device(row: Requirement, root: str = "/") -> Result:
    """The device node exists and opens read-write (the device cgroup may refuse it)."""
    path = under(root, row.target)
    try:
        info = os.stat(path)
    except OSError:
        return Result(False, f"no {row.target}", row.fix)
    if not stat.S_ISCHR(info.st_mode):
        return Result(False, f"{row.target} is not a character device", row.fix)
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CLOEXEC | os.O_NONBLOCK))
    except OSError as error:
        return Result(False, f"{row.target} does not open: {error.strerror}", row.fix)
    return Result(True, f"{row.target} opens read-write")


# --- the rootless variant's rows -------------------------------------------------------------

# dockerd's rootless documentation asks for 65,536 subordinate ids (one full uid range).
MIN_SUBORDINATE_IDS = 65536
CLONE_NEWUSER = 0x10000000


def probe_setuid(row: Requirement, root: str = "/") -> Result:
    """Each program is on PATH, owned by root and setuid, or carries file capabilities, and
    no-new-privileges (which voids both) is off."""
    if (_status_field(root, "NoNewPrivs") or "0").strip() == "1":
        return Result(False, "no-new-privileges is set: setuid bits and file capabilities are void", row.fix)
    for name in row.target.split():
        path = find_program(name, root=root, dist=True)
        if path is None:
            return Result(False, f"no {name} on PATH", row.fix)
        resolved = resolve(root, path)
        info = os.stat(resolved)
        setuid = info.st_uid == 0 and bool(info.st_mode & stat.S_ISUID)
        if not setuid and not _has_file_capabilities(resolved):
            return Result(False, f"{path} is neither setuid root nor has file capabilities", row.fix)
    return Result(True, f"{row.target}: setuid root")


def _has_file_capabilities(path: str) -> bool:
    try:
        return bool(os.getxattr(path, "security.capability"))
    except OSError:
        return False


def _user_names(root: str, uid: int) -> set[str]:
    """The uid as text and its names in /etc/passwd (subuid(5) lines may use either)."""
    names = {str(uid)}
    for line in (read_optional(root, "/etc/passwd") or "").splitlines():
        fields = line.split(":")
        if len(fields) > 2 and fields[2] == str(uid):
            names.add(fields[0])
    return names


def probe_subids(row: Requirement, root: str = "/") -> Result:
    """/etc/subuid and /etc/subgid give the effective user at least 65,536 ids."""
    uid = os.geteuid()
    names = _user_names(root, uid)
    found = []
    for path in row.target.split():
        count = 0
        for line in (read_optional(root, path) or "").splitlines():
            fields = line.strip().split(":")
            if len(fields) == 3 and fields[0] in names and fields[2].isdigit():
                count += int(fields[2])
        if count < MIN_SUBORDINATE_IDS:
            return Result(False, f"{path} gives uid {uid} {count} ids (needs {MIN_SUBORDINATE_IDS})", row.fix)
        found.append(f"{path}: {count}")
    return Result(True, ", ".join(found))


def probe_userns_sysctl(row: Requirement, root: str = "/") -> Result:
    """Neither sysctl turns unprivileged user namespaces off (a missing one does not)."""
    limit_path, clone_path = row.target.split()
    limit = (read_optional(root, limit_path) or "").strip()
    if limit == "0":
        return Result(False, "user.max_user_namespaces is 0", row.fix)
    clone = (read_optional(root, clone_path) or "").strip()
    if clone == "0":
        return Result(False, "kernel.unprivileged_userns_clone is 0", row.fix)
    return Result(True, f"user.max_user_namespaces {limit or '(absent)'}")


def probe_userns_unshare(row: Requirement, root: str = "/") -> Result:
    """A forked child may unshare(CLONE_NEWUSER): seccomp or AppArmor answer EPERM."""
    if root != "/":
        return Result(True, "not probed under another root")
    pid = os.fork()
    if pid == 0:  # the child: it only tries, then reports the errno as its exit status
        status = 1  # whatever goes wrong, the child never returns into the caller's code
        try:
            status = 0
            if hasattr(os, "unshare"):  # Python 3.12+ (the image's); else libc's
                os.unshare(CLONE_NEWUSER)
            else:
                import ctypes

                libc = ctypes.CDLL(None, use_errno=True)
                if libc.unshare(CLONE_NEWUSER) != 0:
                    status = ctypes.get_errno() or 1
        except OSError as error:
            status = error.errno or 1
        except BaseException:
            status = 1
        finally:
            os._exit(min(status, 255))
    _, wait_status = os.waitpid(pid, 0)
    errno_value = os.waitstatus_to_exitcode(wait_status)
    if errno_value == 0:
        return Result(True, "unshare(CLONE_NEWUSER) works")
    import errno

    name = errno.errorcode.get(errno_value, str(errno_value))
    detail = f"unshare(CLONE_NEWUSER) fails with {name}"
    if errno_value == errno.EPERM:
        detail += " (seccomp or AppArmor)"
    return Result(False, detail, row.fix)


# keyctl(2): KEYCTL_GET_KEYRING_ID of the session keyring, without creating one. Harmless,
# and refused with EPERM exactly where a seccomp profile blocks the keyring calls runc makes.
_SYS_KEYCTL = {"x86_64": 250, "aarch64": 219}
_KEYCTL_GET_KEYRING_ID, _KEY_SPEC_SESSION_KEYRING = 0, -3


def probe_keyctl(row: Requirement, root: str = "/") -> Result:
    """keyctl(2) is allowed: runc joins a fresh session keyring for every container.

    Only a seccomp filter can refuse it: with none (Seccomp: 0, as under --privileged) the
    answer is known without ctypes, which would cost every start several ms of imports.
    Otherwise a system call of this process, where a fixture root cannot say.
    """
    if _status_field("/", "Seccomp") == "0":
        return Result(True, "keyctl(2) allowed (no seccomp filter)")
    import ctypes
    import errno

    number = _SYS_KEYCTL.get(os.uname().machine)
    if number is None:
        return Result(True, f"not probed on {os.uname().machine}")
    libc = ctypes.CDLL(None, use_errno=True)
    result = libc.syscall(number, _KEYCTL_GET_KEYRING_ID, _KEY_SPEC_SESSION_KEYRING, 0)
    error = ctypes.get_errno()
    if result == -1 and error in (errno.EPERM, errno.EACCES):
        return Result(False, f"keyctl(2) is refused ({errno.errorcode[error]}): a seccomp profile blocks it", row.fix)
    return Result(True, "keyctl(2) allowed")


PROBES: dict[str, Probe] = {
    "program": probe_program,
    "file": probe_file,
    "library": probe_library,
    "git-subcommand": probe_git_subcommand,
    "filesystem": probe_filesystem,
    "not-overlay": probe_not_overlay,
    "module": probe_module,
    "modules-dir": probe_modules_dir,
    "netfilter": probe_netfilter,
    "cgroup-fs": probe_cgroup_fs,
    "cgroup-writable": probe_cgroup_writable,
    "cgroup-controller": probe_cgroup_controller,
    "cgroup-devices": probe_cgroup_devices,
    "namespaces": probe_namespaces,
    "seccomp": probe_seccomp,
    "root": probe_root,
    "capability": probe_capability,
    "writable": probe_writable,
    "device": probe_device,
    "setuid": probe_setuid,
    "subids": probe_subids,
    "userns-sysctl": probe_userns_sysctl,
    "userns-unshare": probe_userns_unshare,
    "keyctl": probe_keyctl,
}


def run_probe(row: Requirement, root: str = "/") -> Result:
    """Run the row's probe; a probe that trips over something unexpected reports it as
    a missing row instead of stopping the others (the doctor must report every row)."""
    try:
        return PROBES[row.probe](row, root)
    except (OSError, ValueError, KeyError, IndexError) as error:
        return Result(False, f"cannot tell: {type(error).__name__}: {error}", row.fix)
