"""IPv6 in the nested daemon, ip6tables chosen with iptables, and dockerd's environment.

The nested daemon runs with --ipv6 and a --fixed-cidr-v6 from the documentation range
(inside a nested daemon any range is ours). Trixie's dockerd 26.1 has no
--firewall-backend (it came with 28.x): that flag is not tested here (see README).
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.testing.engine import Dind, dind, docker, unique

pytestmark = pytest.mark.e2e

NESTED_BUSYBOX = "dfs-test-busybox:latest"
FIXED_CIDR_V6 = "2001:db8:12::/64"
HTTPD = "busybox mkdir /www && echo over-ipv6 > /www/f && exec busybox httpd -f -p 8080 -h /www"


@pytest.fixture(scope="module")
def ipv6_daemon(image: str, busybox_tar: Path) -> Iterator[Dind]:
    options = ["-e", "DOCKER_TLS_CERTDIR=", "-e", "DOCKER_LAUNCH_DEBUG=true"]
    with dind(image, "--ipv6", "--fixed-cidr-v6", FIXED_CIDR_V6, run_options=options) as daemon:
        daemon.load_image(busybox_tar)
        yield daemon


def test_ipv6_nested_containers_talk_over_ipv6(ipv6_daemon: Dind) -> None:
    """Nested containers should get addresses from --fixed-cidr-v6 and reach each other over IPv6."""
    server = unique("dfs-test-v6")
    ipv6_daemon.exec("docker", "run", "-d", "--name", server, NESTED_BUSYBOX, "sh", "-c", HTTPD)
    try:
        address = ipv6_daemon.exec("docker", "inspect", "-f", "{{.NetworkSettings.GlobalIPv6Address}}", server)
        address_text = address.stdout.strip()
        assert address_text.startswith("2001:db8:12:"), address_text
        script = f"ping -6 -c 1 -W 10 {address_text} && busybox timeout 30 wget -q -O - http://[{address_text}]:8080/f"
        result = ipv6_daemon.exec("docker", "run", "--rm", NESTED_BUSYBOX, "sh", "-c", script, check=False)
        assert result.returncode == 0 and "over-ipv6" in result.stdout, result.stdout + result.stderr
    finally:
        ipv6_daemon.exec("docker", "rm", "-f", server, check=False)


def test_ipv6_ip6tables_chosen_with_iptables(ipv6_daemon: Dind) -> None:
    """The log should name the same backend for ip6tables as for iptables."""
    lines = ipv6_daemon.logs().splitlines()
    line = next(line for line in lines if "iptables: nft" in line or "iptables: legacy" in line)
    backend = line.split("(", 1)[1].split(";", 1)[0]
    assert line.endswith(f"ip6tables: {backend}"), line


def test_ipv6_dockerd_environment_says_container_docker(ipv6_daemon: Dind) -> None:
    """dockerd should run with container=docker in its environment, as on docker:dind."""
    processes = docker("top", ipv6_daemon.name, "-eo", "pid,comm").stdout.splitlines()[1:]
    (pid,) = [fields[0] for fields in map(str.split, processes) if fields[1:] == ["dockerd"]]
    environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert b"container=docker" in environment
