"""The few rtnetlink requests the bridge step makes, on a stdlib socket.

Why not pyroute2: the bridge step needs five requests (create a bridge, set its MTU, add
an IPv4 address, set it up, delete it on undo) plus two look-ups. pyroute2 brought 248
modules and 5.5 MB into the image (asyncio, sqlite3, multiprocessing) and cost ~280 ms
to import; these messages are fixed structs from the kernel's uapi headers, so packing
them with ``struct`` is short, and the tests run every request against a real kernel in
a throw-away network namespace.

Layouts (include/uapi/linux/netlink.h, rtnetlink.h, if_link.h, if_addr.h):
    nlmsghdr   u32 len, u16 type, u16 flags, u32 seq, u32 pid
    ifinfomsg  u8 family, u8 pad, u16 type, s32 index, u32 flags, u32 change
    ifaddrmsg  u8 family, u8 prefixlen, u8 flags, u8 scope, u32 index
    rtattr     u16 len, u16 type, payload padded to 4 bytes
"""

from __future__ import annotations

import errno
import os
import socket
import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

NETLINK_ROUTE = 0
NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_NEWADDR, RTM_GETADDR = 16, 17, 18, 20, 22
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x4, 0x300
NLM_F_EXCL, NLM_F_CREATE = 0x200, 0x400
IFLA_IFNAME, IFLA_MTU, IFLA_LINKINFO, IFLA_INFO_KIND = 3, 4, 18, 1
IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST = 1, 2, 4
IFF_UP = 0x1

HEADER = struct.Struct("=IHHII")
IFINFO = struct.Struct("=BxHiII")
IFADDR = struct.Struct("=BBBBI")
ATTR = struct.Struct("=HH")


def _attr(kind: int, payload: bytes) -> bytes:
    """One rtattr, padded so the next one starts on a 4-byte boundary."""
    size = ATTR.size + len(payload)
    return ATTR.pack(size, kind) + payload + b"\0" * (-size % 4)


def _attrs(data: bytes) -> dict[int, bytes]:
    """The rtattrs of ``data`` by type (the nested flag bit masked off)."""
    found: dict[int, bytes] = {}
    offset = 0
    while offset + ATTR.size <= len(data):
        size, kind = ATTR.unpack_from(data, offset)
        if size < ATTR.size:
            break
        found[kind & 0x3FFF] = data[offset + ATTR.size : offset + size]
        offset += (size + 3) & ~3
    return found


def _name(payload: bytes) -> bytes:
    return payload + b"\0"


class Route:
    """A NETLINK_ROUTE socket: each method is one request, answered or raised as OSError."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        self._sock.bind((0, 0))
        self._seq = 0

    def __enter__(self) -> Route:
        return self

    def __exit__(self, *exc: object) -> None:
        self._sock.close()

    def _request(self, kind: int, flags: int, body: bytes) -> Iterator[tuple[int, bytes]]:
        """Send one request; yield (type, payload) of each answer until the ack or the dump's end."""
        self._seq += 1
        flags |= NLM_F_REQUEST
        self._sock.send(HEADER.pack(HEADER.size + len(body), kind, flags, self._seq, 0) + body)
        while True:
            data = self._sock.recv(65536)
            offset = 0
            while offset + HEADER.size <= len(data):
                size, answer, _, seq, _ = HEADER.unpack_from(data, offset)
                payload = data[offset + HEADER.size : offset + size]
                offset += (size + 3) & ~3
                if seq != self._seq:
                    continue  # a late answer to an earlier request
                if answer == NLMSG_ERROR:
                    (code,) = struct.unpack_from("=i", payload)
                    if code:
                        raise OSError(-code, os.strerror(-code))
                    return  # the ack
                if answer == NLMSG_DONE:
                    return
                yield answer, payload
                if not flags & NLM_F_DUMP and not flags & NLM_F_ACK:
                    return

    def _do(self, kind: int, flags: int, body: bytes) -> None:
        for _ in self._request(kind, flags | NLM_F_ACK, body):
            pass

    def link(self, name: str) -> tuple[int, str | None] | None:
        """(index, kind) of interface ``name``, or None when there is none; kind None for plain links."""
        body = IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + _attr(IFLA_IFNAME, _name(name.encode()))
        try:
            for answer, payload in self._request(RTM_GETLINK, 0, body):
                if answer == RTM_NEWLINK:
                    index = IFINFO.unpack_from(payload)[2]
                    info = _attrs(_attrs(payload[IFINFO.size :]).get(IFLA_LINKINFO, b""))
                    kind = info.get(IFLA_INFO_KIND)
                    return index, None if kind is None else kind.rstrip(b"\0").decode()
        except OSError as exc:
            if exc.errno == errno.ENODEV:  # no such interface
                return None
            raise
        return None

    def add_bridge(self, name: str) -> None:
        """Create bridge ``name``; EEXIST if any interface has that name."""
        linkinfo = _attr(IFLA_LINKINFO | 0x8000, _attr(IFLA_INFO_KIND, b"bridge"))
        body = IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + _attr(IFLA_IFNAME, _name(name.encode())) + linkinfo
        self._do(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body)

    def set_mtu(self, index: int, mtu: int) -> None:
        mtu_attr = _attr(IFLA_MTU, struct.pack("=I", mtu))
        self._do(RTM_NEWLINK, 0, IFINFO.pack(socket.AF_UNSPEC, 0, index, 0, 0) + mtu_attr)

    def set_up(self, index: int) -> None:
        self._do(RTM_NEWLINK, 0, IFINFO.pack(socket.AF_UNSPEC, 0, index, IFF_UP, IFF_UP))

    def delete(self, index: int) -> None:
        self._do(RTM_DELLINK, 0, IFINFO.pack(socket.AF_UNSPEC, 0, index, 0, 0))

    def ipv4_addresses(self, index: int) -> set[tuple[str, int]]:
        """The (address, prefix length) pairs set on interface ``index``."""
        found = set()
        for answer, payload in self._request(RTM_GETADDR, NLM_F_DUMP, IFADDR.pack(socket.AF_INET, 0, 0, 0, 0)):
            if answer != RTM_NEWADDR:
                continue
            _, prefixlen, _, _, owner = IFADDR.unpack_from(payload)
            attrs = _attrs(payload[IFADDR.size :])
            address = attrs.get(IFA_LOCAL, attrs.get(IFA_ADDRESS))
            if owner == index and address is not None:
                found.add((socket.inet_ntoa(address), prefixlen))
        return found

    def add_ipv4_address(self, index: int, address: str, prefixlen: int) -> None:
        """Add ``address/prefixlen`` with its broadcast address, as ``ip addr add ... brd +`` does."""
        packed = socket.inet_aton(address)
        attrs = _attr(IFA_LOCAL, packed) + _attr(IFA_ADDRESS, packed)
        if prefixlen < 31:  # /31 and /32 have no broadcast address (RFC 3021)
            host_bits = (1 << (32 - prefixlen)) - 1
            broadcast = struct.unpack("!I", packed)[0] | host_bits
            attrs += _attr(IFA_BROADCAST, struct.pack("!I", broadcast))
        body = IFADDR.pack(socket.AF_INET, prefixlen, 0, 0, index) + attrs
        self._do(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body)
