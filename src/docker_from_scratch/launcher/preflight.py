"""Pre-flight: the requirement table's probes, before the launcher changes anything.

Hard rows that the launcher cannot repair stop it with the row's fix as the hint (for
example "CAP_SYS_ADMIN ... (hint: run the container with --privileged)"); soft rows
become one warning each, saying what is lost. The probes are the same ones
`docker-from-scratch check` runs, so the two never disagree.
"""

from __future__ import annotations

import os

from docker_from_scratch.launcher import log
from docker_from_scratch.launcher.errors import LaunchError, UsageError
from docker_from_scratch.requirements.paths import nearest_existing, under
from docker_from_scratch.requirements.probes import Result, run_probe
from docker_from_scratch.requirements.record import Record
from docker_from_scratch.requirements.table import REQUIREMENTS, Requirement

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from docker_from_scratch.launcher.args import LaunchOptions

# dockerd reads this one without --config-file; a broken one stops it like a named one.
DEFAULT_DAEMON_CONFIG = "/etc/docker/daemon.json"
# A fresh data root takes ~180 KiB after dockerd's first start (measured: bolt databases
# of containerd, networks, volumes, buildkit); with less than this free dockerd dies with
# "failed to dial .../containerd.sock: ... not implemented" (containerd could not write
# meta.db), which names neither the disk nor the fix.
MIN_DATA_ROOT_FREE = 1 << 20


class Finding(Record):
    """A row and its result, worded for the launcher's error or warning."""

    __slots__ = ("requirement", "result")

    def __init__(self, requirement: Requirement, result: Result) -> None:
        self.requirement = requirement
        self.result = result

    @property
    def name(self) -> str:
        return self.requirement.name

    @property
    def message(self) -> str:
        """'X is required to <why>: <detail>' — the launcher's error for a hard row."""
        row = self.requirement
        return f"{row.name} is required to {row.why}: {self.result.detail}"

    @property
    def warning(self) -> str:
        """'<name> missing: <lost>' — the launcher's warning for a soft row."""
        return f"{self.requirement.name} missing: {self.requirement.lost} ({self.result.detail})"

    @property
    def hint(self) -> str:
        return self.result.hint or self.requirement.fix


# --- the table's rows, probed ------------------------------------------------------------------

# Probe kinds whose evidence lives in /proc: without /proc mounted (a bare initramfs,
# before the launcher mounts the API file systems) their answer would be wrong, so the
# pre-flight leaves them out rather than stop on a false "missing".
_NEEDS_PROC = frozenset({
    "filesystem", "not-overlay", "module", "modules-dir", "netfilter", "cgroup-fs",
    "cgroup-controller", "cgroup-devices", "namespaces", "seccomp", "capability",
})  # fmt: skip


def preflight_rows(rows: Iterable[Requirement] = REQUIREMENTS, root: str = "/") -> list[Requirement]:
    """The rows the launcher tests before it changes anything: hard and soft rows that it
    does not repair itself, minus /proc-based ones while /proc is not mounted."""
    have_proc = os.path.exists(under(root, "/proc/self/status"))
    return [
        row
        for row in rows
        if row.level in ("hard", "soft") and not row.fixed_by_launcher and (have_proc or row.probe not in _NEEDS_PROC)
    ]


def preflight(
    rows: Iterable[Requirement] = REQUIREMENTS,
    root: str = "/",
    data_root: str | None = None,
) -> tuple[list[Finding], list[Finding]]:
    """(hard failures, soft warnings) for the launcher: it raises
    LaunchError(finding.message, hint=finding.hint) for the first list and warns
    finding.warning for the second. ``data_root`` overrides the not-overlay row's path."""
    hard: list[Finding] = []
    soft: list[Finding] = []
    for row in preflight_rows(rows, root):
        if data_root is not None and row.probe == "not-overlay":
            row = row.replace(target=data_root)
        result = run_probe(row, root)
        if not result.ok:
            (hard if row.level == "hard" else soft).append(Finding(row, result))
    return hard, soft


# Rows about kernel modules: without /lib/modules the module step asks the kernel to load
# them (launcher/autoload.py) and warns for what is still missing, so a warning here, before
# it has tried, would name modules that load a moment later.
_MODULE_PROBES = frozenset({"module", "modules-dir", "netfilter"})


def check_requirements(options: LaunchOptions, root: str = "/", modules_step: str = "auto") -> None:
    """Raise LaunchError for bad inputs and for the first missing hard row; warn for each
    missing soft row (module rows are left to the module step when it will ask the kernel:
    ``modules_step`` auto and no module index for modprobe)."""
    from docker_from_scratch.launcher.autoload import modprobe_can_work
    from docker_from_scratch.requirements.modules import loaded_modules

    check_inputs(options, root)
    hard, soft = preflight(root=root, data_root=options.data_root)
    if options.storage_driver == "overlay2":
        # Asked for overlay2 on an overlayfs data root: dockerd would fail with "driver
        # not supported"; without -s it falls back to vfs, which stays a warning.
        for finding in soft:
            if finding.requirement.probe == "not-overlay":
                raise LaunchError(f"storage driver overlay2 cannot run: {finding.result.detail}", hint=finding.hint)
    # What the arguments already gave up is not lost: no warning for it.
    moot = {"iptables"} if not options.iptables else set()
    if options.tls_certdir is None:
        moot.add("libcrypto")
    # Deferred only where a trigger can load something: a kernel without loadable modules
    # (no /proc/modules) has nothing to load, so its rows warn here as before.
    deferred = modules_step == "auto" and not modprobe_can_work(root) and loaded_modules(root) is not None
    for finding in soft:
        if finding.name in moot:
            log.debug(f"{finding.name}: not needed with these arguments")
            continue
        if deferred and finding.requirement.probe in _MODULE_PROBES:
            log.debug(f"{finding.name}: {finding.result.detail}: left to the kernel modules step (it asks the kernel)")
            continue
        log.warn(finding.warning)
    if hard:
        first = hard[0]
        others = f" (and {len(hard) - 1} more: {', '.join(f.name for f in hard[1:])})" if len(hard) > 1 else ""
        raise LaunchError(first.message + others, hint=first.hint)
    log.debug("pre-flight: every hard requirement is met")


# --- inputs the arguments name: files and the data root ---------------------------------


def check_inputs(options: LaunchOptions, root: str = "/") -> None:
    """What dockerd would stumble on later, after the launcher mounted everything: the
    daemon config, the data root's file system, the log file and DOCKER_TLS_SAN."""
    if options.config_file is not None:
        check_daemon_config(options.config_file, root)
    elif os.path.lexists(under(root, DEFAULT_DAEMON_CONFIG)):
        check_daemon_config(DEFAULT_DAEMON_CONFIG, root)
    check_data_root(options.data_root, root)
    if options.log_file:
        path = under(root, options.log_file)
        if os.path.isdir(path):
            raise UsageError(
                f"log file {options.log_file} is a directory", hint="name a file, e.g. /var/log/dockerd.log"
            )
        check_can_be_created(os.path.dirname(path), f"log file {options.log_file}", "name a file in a directory")
    if options.tls_certdir is not None:
        check_can_be_created(
            under(root, options.tls_certdir),
            f"DOCKER_TLS_CERTDIR {options.tls_certdir}",
            "name a directory (or a volume) for the certificates",
        )
        if options.tls_san:
            from docker_from_scratch.launcher import tls

            tls.parse_extra_sans(options.tls_san)  # raises UsageError naming the bad entry


def check_can_be_created(directory: str, what: str, fix: str) -> None:
    """``directory`` is one, or can become one: nothing on its way is a plain file."""
    existing = nearest_existing(directory)
    if not os.path.isdir(existing):
        raise UsageError(f"{what}: {existing} is not a directory", hint=fix)


def check_daemon_config(config_file: str, root: str = "/") -> None:
    """An existing daemon config must be a readable JSON object. Missing, empty and
    one-byte files are left to the layout step, which writes or replaces them with {}."""
    path = under(root, config_file)
    if not os.path.lexists(path):
        return
    if os.path.isdir(path):
        raise UsageError(
            f"daemon config {config_file} is a directory", hint="name a JSON file, e.g. /etc/docker/daemon.json"
        )
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise LaunchError.from_os(
            f"read daemon config {config_file}", exc, hint=f"make {config_file} readable by root"
        ) from exc
    if len(data) <= 1:
        return
    import json  # only here: json costs milliseconds at start-up

    try:
        value = json.loads(data)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        where = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise UsageError(
            f"daemon config {config_file} is not valid JSON{where}",
            hint=f"fix the JSON in {config_file} (dockerd refuses to start with it)",
        ) from exc
    if not isinstance(value, dict):
        raise UsageError(
            f"daemon config {config_file} holds a JSON {type(value).__name__}, not an object",
            hint='write the settings as one object, e.g. {"debug": true}',
        )


def check_data_root(data_root: str, root: str = "/") -> None:
    """The data root must be (or can become) a directory on a writable file system with
    room for dockerd's databases."""
    path = under(root, data_root)
    existing = nearest_existing(path)
    fix = f"mount a writable volume there: -v dind-data:{data_root}"
    if existing == path and not os.path.isdir(path):
        raise UsageError(f"data root {data_root} exists and is not a directory", hint=f"remove it, or {fix}")
    if not os.path.isdir(existing):
        raise UsageError(f"data root {data_root} lies below {existing}, which is not a directory", hint=fix)
    try:
        stats = os.statvfs(existing)
    except OSError as exc:
        log.debug(f"data root: statvfs {existing} failed ({exc}), not checked")
        return
    if stats.f_flag & os.ST_RDONLY:
        raise LaunchError(f"data root {data_root} is on a read-only file system", hint=fix)
    free = stats.f_bavail * stats.f_frsize
    if free < MIN_DATA_ROOT_FREE or (stats.f_files > 0 and stats.f_favail == 0):
        raise LaunchError(
            f"no space left for data root {data_root}: {free // 1024} KiB and {stats.f_favail} inodes free",
            hint="free space on its file system, or give it a bigger volume",
        )
