"""Server names and addresses for the TLS certificate, read from /proc and /etc fixtures."""

from pathlib import Path

import pytest

from docker_from_scratch.launcher.errors import UsageError
from docker_from_scratch.launcher.tls import (
    host_names,
    ip_address,
    ipv4_addresses,
    ipv6_addresses,
    parse_extra_sans,
    server_sans,
)

# /proc/net/fib_trie of a container with eth0 172.18.0.2/16 and a secondary 192.0.2.10/24
# on the same link (as `ip addr add` makes it): both tables list each local address.
FIB_TRIE = """\
Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 172.18.0.0/16 2 0 2
        +-- 172.18.0.0/30 2 0 2
           |-- 172.18.0.0
              /16 link UNICAST
           |-- 172.18.0.2
              /32 host LOCAL
        |-- 172.18.255.255
           /32 link BROADCAST
     +-- 192.0.2.0/24 2 0 2
        |-- 192.0.2.0
           /24 link UNICAST
        |-- 192.0.2.10
           /32 host LOCAL
        |-- 192.0.2.255
           /32 link BROADCAST
Local:
  +-- 0.0.0.0/0 3 0 5
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
     +-- 172.18.0.0/16 2 0 2
        +-- 172.18.0.0/30 2 0 2
           |-- 172.18.0.2
              /32 host LOCAL
     +-- 192.0.2.0/24 2 0 2
        |-- 192.0.2.10
           /32 host LOCAL
"""
IF_INET6 = """\
00000000000000000000000000000001 01 80 10 80       lo
fe800000000000000042acfffe120002 2a 40 20 80     eth0
20010db8000000000000000000000005 2a 40 00 80     eth0
"""


def make_root(tmp_path: Path, *, hostname: str = "3f2a9c1b0d4e", hosts: str = "") -> Path:
    (tmp_path / "proc/net").mkdir(parents=True)
    (tmp_path / "proc/net/fib_trie").write_text(FIB_TRIE)
    (tmp_path / "proc/net/if_inet6").write_text(IF_INET6)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/hostname").write_text(hostname + "\n")
    (tmp_path / "etc/hosts").write_text(hosts)
    return tmp_path


def test_ipv4_addresses_are_the_local_host_leaves() -> None:
    """Every /32 host LOCAL leaf should be listed once; networks and broadcasts not."""
    assert ipv4_addresses(FIB_TRIE) == ["127.0.0.1", "172.18.0.2", "192.0.2.10"]


def test_ipv4_addresses_of_empty_text() -> None:
    """No fib_trie text (no /proc) should give no addresses rather than fail."""
    assert ipv4_addresses("") == []


def test_ipv6_addresses_are_compressed() -> None:
    """if_inet6's 32 hex digits should become the usual compressed IPv6 text."""
    assert ipv6_addresses(IF_INET6) == ["::1", "fe80::42:acff:fe12:2", "2001:db8::5"]


def test_host_names_include_fqdn_from_hosts(tmp_path: Path) -> None:
    """The hostname, /etc/hostname and the aliases on the hostname's /etc/hosts line count."""
    hosts = "127.0.0.1\tlocalhost\n172.18.0.2\tdind.ci.example dind\n# 10.0.0.1 dind.old\n"
    root = make_root(tmp_path, hostname="dind", hosts=hosts)
    assert host_names(str(root), hostname="dind") == ["dind", "dind.ci.example"]


def test_host_names_short_form_of_a_dotted_hostname(tmp_path: Path) -> None:
    """A dotted hostname should also give its first label, like `hostname -s`."""
    root = make_root(tmp_path, hostname="runner.ci.example")
    assert host_names(str(root), hostname="runner.ci.example") == ["runner.ci.example", "runner"]


def test_host_names_without_etc(tmp_path: Path) -> None:
    """Missing /etc files should leave just the kernel's hostname."""
    assert host_names(str(tmp_path), hostname="box") == ["box"]


@pytest.mark.parametrize(
    "value, expected",
    [
        ("", []),
        ("DNS:ci.example", ["DNS:ci.example"]),
        ("DNS:a.example,IP:192.0.2.7", ["DNS:a.example", "IP:192.0.2.7"]),
        ("DNS:a.example IP:192.0.2.7\n", ["DNS:a.example", "IP:192.0.2.7"]),
        ("ip:2001:DB8::0:7", ["IP:2001:db8::7"]),
        ("dns:*.ci.example", ["DNS:*.ci.example"]),
        ("192.0.2.8 build-host", ["IP:192.0.2.8", "DNS:build-host"]),
        ("fe80::1", ["IP:fe80::1"]),
    ],
)
def test_parse_extra_sans(value: str, expected: list[str]) -> None:
    """DOCKER_TLS_SAN should accept dind's DNS:/IP: entries, comma or space separated."""
    assert parse_extra_sans(value) == expected


@pytest.mark.parametrize("value", ["IP:192.0.2.300", "DNS:bad,name!", "URI:https://x", "IP:"])
def test_parse_extra_sans_rejects_bad_entries(value: str) -> None:
    """A malformed DOCKER_TLS_SAN entry should be a usage error naming the entry."""
    with pytest.raises(UsageError, match="DOCKER_TLS_SAN entry"):
        parse_extra_sans(value)


def test_ip_address_canonical_form() -> None:
    """Addresses should come back canonical; names should not pass as addresses."""
    assert ip_address("192.0.2.1") == "192.0.2.1"
    assert ip_address("2001:0db8:0000::1") == "2001:db8::1"
    assert ip_address("docker") is None
    assert ip_address("192.0.2") is None


def test_server_sans_order_and_content(tmp_path: Path) -> None:
    """Server SANs: every address, the names, docker, localhost, then DOCKER_TLS_SAN, once each."""
    root = make_root(tmp_path, hostname="3f2a9c1b0d4e")
    sans = server_sans(str(root), "DNS:docker IP:192.0.2.99", hostname="3f2a9c1b0d4e")
    assert sans == [
        "IP:127.0.0.1", "IP:172.18.0.2", "IP:192.0.2.10",
        "IP:::1", "IP:fe80::42:acff:fe12:2", "IP:2001:db8::5",
        "DNS:3f2a9c1b0d4e", "DNS:docker", "DNS:localhost", "IP:192.0.2.99",
    ]  # fmt: skip
