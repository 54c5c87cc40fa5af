"""Helpers for the rootless variant's tests: a tap device node the rootless user can open."""

import os
import stat
from pathlib import Path

from docker_from_scratch.builder import content

# /dev/net/tun's numbers (Documentation/admin-guide/devices.txt: misc 200).
TUN_MAJOR, TUN_MINOR = 10, 200
DATA_ROOT = content.ROOTLESS_DATA_ROOT
HOME = content.ROOTLESS_HOME
UID = content.ROOTLESS_UID
SUBID_START, SUBID_COUNT = content.ROOTLESS_SUBID_START, content.ROOTLESS_SUBID_COUNT


def make_tun_node(directory: Path) -> Path:
    """A /dev/net/tun node of mode 0666 in ``directory``, for `--device NODE:/dev/net/tun`.

    docker copies a device's mode from the node it is given; this host's own
    /dev/net/tun is 0600 root (udev hosts make it 0666), which uid 1000 cannot open. The
    node is ours (the host's device file stays as it is); its mode is what the user needs.
    """
    node = directory / "tun"
    os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(TUN_MAJOR, TUN_MINOR))
    os.chmod(node, 0o666)  # mknod honours the umask
    return node


def tun_flags(node: Path) -> tuple[str, ...]:
    return ("--device", f"{node}:/dev/net/tun")
