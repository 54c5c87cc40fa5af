"""The launcher's leaf: thin ctypes wrappers over the Linux calls the standard library lacks.

Standard library only, and ``ctypes`` is loaded on first use: a launcher that finds
everything already in place (the common ``--privileged`` case) never pays for it.
Every wrapper raises ``OSError`` with the errno, so callers can name what failed.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing (and the re it imports) costs ~3 ms at start-up
if TYPE_CHECKING:
    from typing import Any

# <linux/mount.h>
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MNT_DETACH = 2
# <linux/prctl.h>
PR_SET_CHILD_SUBREAPER = 36
# <linux/reboot.h>
RB_POWER_OFF = 0x4321FEDC
RB_AUTOBOOT = 0x01234567

_libc: Any = None


def _c() -> Any:
    global _libc
    if _libc is None:
        import ctypes

        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _check(result: int, what: str) -> None:
    if result != 0:
        import ctypes

        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source: str, target: str, fstype: str | None, flags: int = 0, data: str = "") -> None:
    """mount(2); raises OSError naming the target and the errno."""
    libc = _c()
    result = libc.mount(
        source.encode(),
        target.encode(),
        fstype.encode() if fstype else None,
        flags,
        data.encode() if data else None,
    )
    _check(result, f"mount {fstype or 'bind'} on {target}")


def umount(target: str, flags: int = 0) -> None:
    """umount2(2); MNT_DETACH for a lazy unmount."""
    _check(_c().umount2(target.encode(), flags), f"umount {target}")


def set_child_subreaper() -> None:
    """Make orphans of our descendants our children, so we can reap them when not PID 1."""
    _check(_c().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "prctl(PR_SET_CHILD_SUBREAPER)")


def reboot(command: int) -> None:
    """reboot(2), for PID 1 on a bare kernel (power off after dockerd stops)."""
    os.sync()
    _check(_c().reboot(command), "reboot")
