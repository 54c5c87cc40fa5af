"""Networking before dockerd: IP forwarding, and the custom bridge of ``--bip`` with ``-b``.

dockerd refuses ``--bip`` together with ``-b``: with ``-b`` it expects the bridge to exist.
The seed therefore created the bridge itself and passed only ``-b``; so do we. Netlink
goes through pyroute2 (not ``ip`` output parsing), imported only when a bridge is asked
for: its import costs ~185 ms here, which a launch without a custom bridge never pays.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

from docker_from_scratch.launcher import log
from docker_from_scratch.launcher.errors import LaunchError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ipaddress
    from collections.abc import Iterator

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


@contextmanager
def bridge(name: str, address: ipaddress.IPv4Interface, mtu: int | None = None) -> Iterator[None]:
    """Create bridge ``name`` with ``address`` (and ``mtu``), up; undone if a later step fails.

    An existing bridge of that name is reused: its address is added when missing.
    """
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    created = False
    with IPRoute() as ipr:
        try:
            found = ipr.link_lookup(ifname=name)
            if found:
                index = found[0]
                kind = _link_kind(ipr, index)
                if kind != "bridge":
                    raise LaunchError(
                        f"interface {name} exists and is not a bridge ({kind or 'no kind'})",
                        hint=f"pick another -b name, or delete {name}",
                    )
                log.debug(f"bridge {name}: exists, reused")
            else:
                ipr.link("add", ifname=name, kind="bridge")
                created = True
                index = ipr.link_lookup(ifname=name)[0]
                log.debug(f"bridge {name}: created")
            if mtu is not None:
                ipr.link("set", index=index, mtu=mtu)
                log.debug(f"bridge {name}: mtu {mtu}")
            present = {
                (entry.get_attr("IFA_ADDRESS"), entry["prefixlen"])
                for entry in ipr.get_addr(index=index, family=2)
            }
            wanted = (str(address.ip), address.network.prefixlen)
            if wanted in present:
                log.debug(f"bridge {name}: address {address} already set, skipped")
            else:
                ipr.addr("add", index=index, address=wanted[0], prefixlen=wanted[1])
                log.debug(f"bridge {name}: address {address} added")
            ipr.link("set", index=index, state="up")
        except NetlinkError as exc:
            if created:
                _delete(ipr, name)
            raise LaunchError(
                f"cannot set up bridge {name} with {address}: {os.strerror(exc.code)}",
                hint="the container needs CAP_NET_ADMIN: run it with --privileged",
            ) from exc
        except BaseException:
            if created:
                _delete(ipr, name)
            raise
    try:
        yield
    except GeneratorExit:
        # The launcher keeps what it made once every step succeeded (ExitStack.pop_all);
        # the suspended generator is then closed when collected: not a failure.
        raise
    except BaseException:
        if created:
            with IPRoute() as ipr:
                _delete(ipr, name)
        raise


def _link_kind(ipr: object, index: int) -> str | None:
    (link,) = ipr.get_links(index)  # type: ignore[attr-defined]
    info = link.get_attr("IFLA_LINKINFO")
    return None if info is None else info.get_attr("IFLA_INFO_KIND")


def _delete(ipr: object, name: str) -> None:
    found = ipr.link_lookup(ifname=name)  # type: ignore[attr-defined]
    if found:
        ipr.link("del", index=found[0])  # type: ignore[attr-defined]
        log.debug(f"bridge {name}: removed after a failure")
