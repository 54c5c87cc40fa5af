"""The kernel-module facts, once: which modules Docker needs, and how names are spelled.

The launcher loads :data:`MODULES` (launcher/kmod.py), the doctor's probes look up
:data:`KCONFIG` when a kernel has no module support, the bare-kernel PID 1 loads
:data:`DISK_MODULES`, and the initramfs builder ships all of them (builder/kernel.py).
Module names treat - and _ alike, and files carry one of several suffixes:
:func:`module_name` is the one place that turns either into the kernel's spelling.
:func:`module_state` and :func:`kernel_config` read where a module stands in the
running kernel (the doctor's probes and the launcher's pre-flight ask them), and
:func:`present_modules` what needs no modprobe (the launcher's kmod step); they read
/proc, /sys and /lib/modules under a root and never start a process. The listings have
one parser each: :func:`parse_proc_modules`, :func:`parse_module_list` (modules.builtin
and modules.dep) and :func:`parse_modules_dep` (the initramfs builder's dependencies).
"""

from __future__ import annotations

import os

from docker_from_scratch.requirements.paths import read_bytes, read_optional, under
from docker_from_scratch.requirements.record import Record

# The modules the launcher loads, with the feature each one carries.
MODULES: tuple[tuple[str, str], ...] = (
    ("overlay", "the overlay2 storage driver"),
    ("bridge", "bridge networks (docker0)"),
    ("br_netfilter", "iptables rules for traffic between containers on one bridge"),
    ("veth", "network interfaces of containers"),
    ("nf_nat", "NAT for published ports and outbound traffic"),
    ("nf_conntrack_netlink", "conntrack clean-up when published ports change"),
    ("nf_tables", "iptables-nft, the default iptables"),
    ("nft_compat", "xtables matches and targets in iptables-nft"),
    ("nft_chain_nat", "the nat table of iptables-nft"),
    ("xt_MASQUERADE", "outbound traffic from containers (MASQUERADE)"),
    ("xt_addrtype", "published ports (addrtype match)"),
    ("xt_conntrack", "replies to container traffic (conntrack match)"),
    ("xt_nat", "published ports (DNAT)"),
    ("ip_tables", "iptables-legacy"),
    ("iptable_nat", "the nat table of iptables-legacy"),
    ("iptable_filter", "the filter table of iptables-legacy"),
)

# What the data disk of a bare-kernel boot needs (a virtio disk with ext4): PID 1 loads
# these itself, before the launcher's child loads MODULES.
DISK_MODULES = ("virtio_blk", "ext4")

# The Kconfig symbol of each module the requirement table names: when a kernel is built
# without module support, the config is the only place a built-in without parameters
# shows up.
KCONFIG: dict[str, str] = {
    "overlay": "CONFIG_OVERLAY_FS",
    "bridge": "CONFIG_BRIDGE",
    "veth": "CONFIG_VETH",
    "br_netfilter": "CONFIG_BRIDGE_NETFILTER",
    "nf_nat": "CONFIG_NF_NAT",
    "nf_tables": "CONFIG_NF_TABLES",
    "nft_chain_nat": "CONFIG_NFT_NAT",
    "nft_compat": "CONFIG_NFT_COMPAT",
    "ip_tables": "CONFIG_IP_NF_IPTABLES",
    "iptable_nat": "CONFIG_IP_NF_NAT",
    "fuse": "CONFIG_FUSE_FS",
}

# A module file ends in one of these (Debian compresses with xz since 6.x kernels).
SUFFIXES = (".ko.xz", ".ko.zst", ".ko.gz", ".ko")


def normalize(name: str) -> str:
    """Module names treat - and _ alike; the kernel shows _ (/proc/modules, /sys/module)."""
    return name.replace("-", "_")


def module_name(path: str) -> str:
    """``kernel/net/bridge/br_netfilter.ko.xz`` -> ``br_netfilter`` (dashes as underscores)."""
    base = os.path.basename(path.strip())
    for suffix in SUFFIXES:
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    return normalize(base)


# --- where a module stands in the running kernel ----------------------------------------


def kernel_release(root: str = "/") -> str:
    """The running kernel's release (what `uname -r` prints)."""
    text = read_optional(root, "/proc/sys/kernel/osrelease")
    if text:
        return text.strip()
    return os.uname().release if root in ("", "/") else ""


# Files that exist only while a module's code is in the kernel (loaded or built in).
MODULE_TRACES: dict[str, str] = {
    "br_netfilter": "/proc/sys/net/bridge",
    "ip_tables": "/proc/net/ip_tables_names",
}


def _gunzip(data: bytes) -> str | None:
    try:
        import zlib  # built into Debian's python3; imported lazily, rarely needed
    except ImportError:
        return None
    try:
        return zlib.decompress(data, 16 + zlib.MAX_WBITS).decode("utf-8", "replace")
    except zlib.error:
        return None


# (root, release) -> config text. A dict, not functools.lru_cache: functools (with
# collections) costs the launcher ~4 ms to import at every start inside the image.
_KERNEL_CONFIGS: dict[tuple[str, str], str] = {}


def _kernel_config_text(root: str, release: str) -> str:
    """The kernel's build config from /proc/config.gz (CONFIG_IKCONFIG_PROC) or
    /boot/config-<release>; empty when neither is readable. Cached: it cannot change
    while the kernel runs."""
    if (root, release) not in _KERNEL_CONFIGS:
        _KERNEL_CONFIGS[root, release] = _read_kernel_config(root, release)
    return _KERNEL_CONFIGS[root, release]


def _read_kernel_config(root: str, release: str) -> str:
    data = read_bytes(root, "/proc/config.gz")
    text = _gunzip(data) if data is not None else None
    if text is None and release:
        text = read_optional(root, f"/boot/config-{release}")
    return "\n" + (text or "")


def kernel_config(symbol: str, root: str = "/") -> str | None:
    """'y', 'm' or 'n' (is not set) for a CONFIG_ symbol, None when the config is not
    readable or does not mention it. Searches the text instead of parsing all ~8000
    lines: the launcher's pre-flight asks for two or three symbols."""
    text = _kernel_config_text(root, kernel_release(root))
    start = text.find(f"\n{symbol}=")
    if start != -1:
        value_start = start + len(symbol) + 2
        end = text.find("\n", value_start)
        return text[value_start : end if end != -1 else len(text)].strip('"')
    if f"\n# {symbol} is not set" in text:
        return "n"
    return None


def parse_proc_modules(text: str) -> set[str]:
    """/proc/modules: "name size refcount deps state address" lines -> module names."""
    return {normalize(line.split(None, 1)[0]) for line in text.splitlines() if line.strip()}


def parse_module_list(text: str) -> set[str]:
    """modules.builtin ("kernel/fs/overlayfs/overlay.ko" lines) or modules.dep (the same,
    then ":" and the dependencies) -> module names."""
    return {module_name(line.partition(":")[0]) for line in text.splitlines() if line.strip()}


def parse_modules_dep(text: str) -> dict[str, tuple[str, list[str]]]:
    """modules.dep -> {module name: (its path, the paths it depends on)}."""
    table: dict[str, tuple[str, list[str]]] = {}
    for line in text.splitlines():
        path, sep, deps = line.partition(":")
        if not sep:
            continue
        table[module_name(path)] = (path.strip(), deps.split())
    return table


def loaded_modules(root: str) -> set[str] | None:
    """Names in /proc/modules; None when the kernel has no loadable modules (or no /proc)."""
    text = read_optional(root, "/proc/modules")
    if text is None:
        return None
    return parse_proc_modules(text)


# (path, mtime, size) -> names: each listing is parsed once per file version, although the
# pre-flight and the doctor ask for one module at a time (modules.dep has thousands of
# lines). A dict, not functools.lru_cache, for the same import cost as _KERNEL_CONFIGS.
_MODULE_LISTS: dict[tuple[str, int, int], frozenset[str]] = {}


def _module_list_of(path: str, mtime_ns: int, size: int) -> frozenset[str]:
    key = (path, mtime_ns, size)
    if key not in _MODULE_LISTS:
        _MODULE_LISTS[key] = frozenset(parse_module_list(read_optional("/", path) or ""))
    return _MODULE_LISTS[key]


def listed_modules(root: str, path: str) -> frozenset[str]:
    """Module names in modules.builtin or modules.dep at ``path`` under ``root``; empty when
    the file cannot be read."""
    full = under(root, path)
    try:
        info = os.stat(full)
    except OSError:
        return frozenset()
    return _module_list_of(full, info.st_mtime_ns, info.st_size)


def present_modules(root: str, release: str) -> tuple[frozenset[str], set[str]]:
    """(built in, loaded) module names: modules.builtin, and /proc/modules with /sys/module
    (where built-ins with parameters show up too): what needs no modprobe."""
    builtin = listed_modules(root, f"/lib/modules/{release}/modules.builtin")
    loaded = loaded_modules(root) or set()
    try:  # noqa: SIM105 (contextlib costs ~6 ms at every start: launcher/undo.py)
        loaded |= {normalize(name) for name in os.listdir(under(root, "/sys/module"))}
    except OSError:
        pass
    return builtin, loaded


class ModuleState(Record):
    __slots__ = ("state", "evidence")

    def __init__(self, state: str, evidence: str) -> None:
        self.state = state  # loaded, built in, loadable, absent, unknown
        self.evidence = evidence

    @property
    def available(self) -> bool:
        return self.state in ("loaded", "built in", "loadable")

    def describe(self, name: str) -> str:
        return f"{name} {self.state} ({self.evidence})"


def module_state(name: str, root: str = "/") -> ModuleState:
    """Where ``name`` stands in the running kernel (strongest evidence first):

        loaded     listed in /proc/modules
        built in   /sys/module/X without a /proc/modules line, modules.builtin, or CONFIG_X=y
        loadable   a file under /lib/modules/$(uname -r) (modules.dep), or CONFIG_X=m with it
        absent     CONFIG_X unset, or none of the above

    A kernel built without CONFIG_MODULES has no /proc/modules at all (measured on the
    build machine: 6.18 with everything built in; veth and nf_nat then show up nowhere
    but in /proc/config.gz, so the kernel config is read too).
    """
    loaded = loaded_modules(root)
    if loaded is not None and name in loaded:
        return ModuleState("loaded", "/proc/modules")
    if os.path.isdir(under(root, f"/sys/module/{name}")):
        return ModuleState("built in", f"/sys/module/{name}, not in /proc/modules")
    release = kernel_release(root)
    moddir = f"/lib/modules/{release}"
    if normalize(name) in listed_modules(root, f"{moddir}/modules.builtin"):
        return ModuleState("built in", f"{moddir}/modules.builtin")
    trace = MODULE_TRACES.get(name)
    if trace and os.path.exists(under(root, trace)):
        return ModuleState("built in", f"{trace} exists, not in /proc/modules")
    symbol = KCONFIG.get(name, "")
    config_value = kernel_config(symbol, root) if symbol else None
    if config_value == "y":
        return ModuleState("built in", f"{symbol}=y")
    if loaded is not None and normalize(name) in listed_modules(root, f"{moddir}/modules.dep"):
        return ModuleState("loadable", f"not loaded yet, in {moddir}")
    if config_value == "n":
        return ModuleState("absent", f"{symbol} is not set")
    if loaded is None:
        if not os.path.isdir(under(root, "/proc/self")):
            return ModuleState("unknown", "/proc is not mounted")
        return ModuleState("unknown", "not listed anywhere, and no kernel config to ask")
    if not os.path.isdir(under(root, moddir)):
        return ModuleState("absent", f"not loaded, and no {moddir} to load it from")
    return ModuleState("absent", f"not loaded, not built in, not in {moddir}")
