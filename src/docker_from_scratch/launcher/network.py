"""Networking before dockerd: IP forwarding, and the custom bridge of ``--bip`` with ``-b``.

dockerd refuses ``--bip`` together with ``-b``: with ``-b`` it expects the bridge to exist.
The seed therefore created the bridge itself and passed only ``-b``; so do we. Netlink
goes through :mod:`netlink` (stdlib ``socket`` and ``struct``; not ``ip`` output parsing,
not pyroute2: see that module for why), imported only when a bridge is asked for.
"""

from __future__ import annotations

import errno
import os

from docker_from_scratch.launcher import log
from docker_from_scratch.launcher.errors import LaunchError, describe_errno

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ipaddress
    from collections.abc import Iterator
    from contextlib import AbstractContextManager

    from docker_from_scratch.launcher import netlink

IP_FORWARD = "proc/sys/net/ipv4/ip_forward"


def enable_ip_forwarding(root: str = "/") -> None:
    """net.ipv4.ip_forward=1: containers on a bridge reach beyond it only with forwarding."""
    path = os.path.join(root, IP_FORWARD)
    try:
        with open(path) as handle:
            if handle.read().strip() == "1":
                log.debug("ip_forward: already 1, skipped")
                return
        with open(path, "w") as handle:
            handle.write("1\n")
        log.debug("ip_forward: set to 1")
    except OSError as exc:
        # dockerd sets it too when it can; a read-only /proc/sys only costs routing.
        log.warn(f"cannot enable IP forwarding ({exc.strerror}): containers reach only their bridge")


def bridge(name: str, address: ipaddress.IPv4Interface, mtu: int | None = None) -> AbstractContextManager[None]:
    """Create bridge ``name`` with ``address`` (and ``mtu``), up; undone if a later step fails.

    An existing bridge of that name is reused: its address is added when missing.
    """
    # contextlib only when a bridge is asked for: it costs ~6 ms at every start (undo.py).
    from contextlib import contextmanager

    return contextmanager(_bridge)(name, address, mtu)


def _bridge(name: str, address: ipaddress.IPv4Interface, mtu: int | None) -> Iterator[None]:
    from docker_from_scratch.launcher import netlink

    created = False
    with netlink.Route() as route:
        try:
            found = route.link(name)
            if found:
                index, kind = found
                if kind != "bridge":
                    raise LaunchError(
                        f"interface {name} exists and is not a bridge ({kind or 'no kind'})",
                        hint=f"pick another -b name, or delete {name}",
                    )
                log.debug(f"bridge {name}: exists, reused")
            else:
                route.add_bridge(name)
                created = True
                index = _index(route, name)
                log.debug(f"bridge {name}: created")
            if mtu is not None:
                route.set_mtu(index, mtu)
                log.debug(f"bridge {name}: mtu {mtu}")
            wanted = (str(address.ip), address.network.prefixlen)
            if wanted in route.ipv4_addresses(index):
                log.debug(f"bridge {name}: address {address} already set, skipped")
            else:
                route.add_ipv4_address(index, *wanted)
                log.debug(f"bridge {name}: address {address} added")
            route.set_up(index)
        except OSError as exc:
            if created:
                _delete(route, name)
            raise LaunchError(
                f"cannot set up bridge {name} with {address}: {describe_errno(exc)}",
                hint="the container needs CAP_NET_ADMIN: run it with --privileged",
            ) from exc
        except BaseException:
            if created:
                _delete(route, name)
            raise
    try:
        yield
    except GeneratorExit:
        # The launcher keeps what it made once every step succeeded (Undo.pop_all);
        # the suspended generator is then closed when collected: not a failure.
        raise
    except BaseException:
        if created:
            with netlink.Route() as route:
                _delete(route, name)
        raise


def _index(route: netlink.Route, name: str) -> int:
    found = route.link(name)
    if found is None:  # deleted between two requests: nothing else touches it here
        raise OSError(errno.ENODEV, os.strerror(errno.ENODEV))
    return found[0]


def _delete(route: netlink.Route, name: str) -> None:
    found = route.link(name)
    if found:
        route.delete(found[0])
        log.debug(f"bridge {name}: removed after a failure")
