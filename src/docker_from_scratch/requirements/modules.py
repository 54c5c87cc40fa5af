"""The kernel-module facts, once: which modules Docker needs, and how names are spelled.

The launcher loads :data:`MODULES` (launcher/kmod.py), the doctor's probes look up
:data:`KCONFIG` when a kernel has no module support, the bare-kernel PID 1 loads
:data:`DISK_MODULES`, and the initramfs builder ships all of them (builder/kernel.py).
Module names treat - and _ alike, and files carry one of several suffixes:
:func:`module_name` is the one place that turns either into the kernel's spelling.
"""

import os

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
