"""IPv6 in the nested daemon, ip6tables chosen with iptables, and dockerd's environment.

The nested daemon runs with --ipv6 and a --fixed-cidr-v6 from the documentation range
(inside a nested daemon any range is ours). Trixie's dockerd 26.1 has no
--firewall-backend (it came with 28.x): that flag is not tested here (see README).

Engines from 27 on turn ip6tables on by default: with no --ipv6 on dockerd, a
`docker network create --ipv6` network still needs ip6tables. The forky engine (28.5)
shows it both ways: our image gives it ip6tables and the network works; the same image
with its ip6tables* deleted starts (IPv4 works) but refuses the IPv6 network
("ip6tables is missing"), which is what a DinD image without ip6tables gives users.
"""

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.testing.engine import Dind, dind, docker, engine_major, image_suite, image_without, unique

pytestmark = pytest.mark.e2e

NESTED_BUSYBOX = "dfs-test-busybox:latest"
FIXED_CIDR_V6 = "2001:db8:12::/64"
NETWORK_V6 = "2001:db8:12:1::/64"
HTTPD = "busybox mkdir /www && echo over-ipv6 > /www/f && exec busybox httpd -f -p 8080 -h /www"
# dockerd 28's log lines when it has no ip6tables (moby's bridge driver)
NO_IP6TABLES = "ip6tables is missing"


@pytest.fixture(scope="module")
def ipv6_daemon(image: str, busybox_tar: Path) -> Iterator[Dind]:
    options = ["-e", "DOCKER_TLS_CERTDIR=", "-e", "DOCKER_LAUNCH_DEBUG=true"]
    with dind(image, "--ipv6", "--fixed-cidr-v6", FIXED_CIDR_V6, run_options=options) as daemon:
        daemon.load_image(busybox_tar)
        yield daemon


def assert_talk_over_ipv6(daemon: Dind, prefix: str, *network: str) -> None:
    """A nested server gets an address under ``prefix`` and a second container reaches it over IPv6."""
    server = unique("dfs-test-v6")
    daemon.exec("docker", "run", "-d", "--name", server, *network, NESTED_BUSYBOX, "sh", "-c", HTTPD)
    try:
        template = "{{range .NetworkSettings.Networks}}{{.GlobalIPv6Address}}{{end}}"
        address_text = daemon.exec("docker", "inspect", "-f", template, server).stdout.strip()
        assert address_text.startswith(prefix), address_text
        script = f"ping -6 -c 1 -W 10 {address_text} && busybox timeout 30 wget -q -O - http://[{address_text}]:8080/f"
        result = daemon.exec("docker", "run", "--rm", *network, NESTED_BUSYBOX, "sh", "-c", script, check=False)
        assert result.returncode == 0 and "over-ipv6" in result.stdout, result.stdout + result.stderr
    finally:
        daemon.exec("docker", "rm", "-f", server, check=False)


def test_ipv6_nested_containers_talk_over_ipv6(ipv6_daemon: Dind) -> None:
    """Nested containers should get addresses from --fixed-cidr-v6 and reach each other over IPv6."""
    assert_talk_over_ipv6(ipv6_daemon, "2001:db8:12:")


def test_ipv6_network_works_without_daemon_ipv6(image: str, busybox_tar: Path) -> None:
    """With no --ipv6 on dockerd, a `docker network create --ipv6` network should carry IPv6
    between nested containers (on engines from 27 on that takes ip6tables)."""
    with dind(image, run_options=["-e", "DOCKER_TLS_CERTDIR="]) as daemon:
        daemon.load_image(busybox_tar)
        name = unique("dfs-test-v6net")
        daemon.exec("docker", "network", "create", "--ipv6", "--subnet", NETWORK_V6, name)
        assert_talk_over_ipv6(daemon, "2001:db8:12:1:", "--network", name)
        assert NO_IP6TABLES not in daemon.logs()


def test_ipv6_engine_27_without_ip6tables_refuses_ipv6_networks(image: str) -> None:
    """On an engine from 27 on, our image with ip6tables deleted should start but refuse an
    IPv6 network: the failure our ip6tables prevents."""
    suite = image_suite(image)
    if engine_major(suite) < 27:
        pytest.skip(f"{suite}'s engine turns ip6tables on only with --ip6tables")
    options = ["-e", "DOCKER_TLS_CERTDIR=", "-e", "DOCKER_LAUNCH_DEBUG=true"]
    with ExitStack() as stack:
        stripped = stack.enter_context(image_without(image, "/usr/sbin", "ip6tables", f"{image}-noip6tables"))
        daemon = stack.enter_context(dind(stripped, run_options=options))
        assert "ip6tables: no ip6tables on PATH" in daemon.logs()
        daemon.exec("docker", "network", "create", unique("dfs-test-v4net"))  # IPv4 still works
        args = ("docker", "network", "create", "--ipv6", "--subnet", NETWORK_V6, unique("dfs-test-v6net"))
        result = daemon.exec(*args, check=False)
        assert result.returncode != 0 and NO_IP6TABLES in result.stderr, result.stdout + result.stderr


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
