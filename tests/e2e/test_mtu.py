"""The nested daemon follows a CI network's MTU below 1500 (launcher/mtu.py), the way users run it.

The outer network is a host-engine network made with com.docker.network.driver.mtu=1360,
GitLab's hosted-runner value. The server on it has its own interface at 1500 and no
segmentation offload, so it sends full-size frames; the 1360 veth in front of it drops
them without an ICMP (shared/README),
which is the "hangs in CI" failure. With the MTU rule the nested containers advertise an
MSS that fits and the transfers complete; with DOCKER_LAUNCH_MTU=off the download stalls.

Compose's default project network is checked on the plugin image (--plugins buildx,compose),
the image that has compose.
"""

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from tests.testing.engine import Dind, dind, docker, in_netns_of, unique
from tests.testing.rootless import DATA_ROOT, make_tun_node, tun_flags

pytestmark = pytest.mark.e2e

OUTER_MTU = 1360
NESTED_BUSYBOX = "dfs-test-busybox:latest"
SIZE_MB = 4
# A quiet machine moves 4 MB over these veths in well under a second; the bound leaves
# room for a loaded shared machine, and a stalled transfer never meets it.
TRANSFER_BOUND_S = 60
# The stalled case waits this long: 20 times the loaded machine's slowest completed
# transfer seen here (about 1 s), so a stall is no slow success.
STALL_WAIT_S = 20
# One service that prints its eth0 MTU, on the project's default network (NAME_default).
COMPOSE = f"""\
services:
  probe:
    image: {NESTED_BUSYBOX}
    command: ["cat", "/sys/class/net/eth0/mtu"]
"""
HTTPD_SCRIPT = f"""
busybox mkdir -p /www
busybox dd if=/dev/urandom of=/www/big bs=1M count={SIZE_MB} 2>/dev/null
exec busybox httpd -f -p 8080 -h /www
"""
SERVER_SCRIPT = "ip link set eth0 mtu 1500\n" + HTTPD_SCRIPT


@contextmanager
def outer_network() -> Iterator[str]:
    name = unique("dfs-test-mtu")
    docker("network", "create", "-o", f"com.docker.network.driver.mtu={OUTER_MTU}", name)
    try:
        yield name
    finally:
        docker("network", "rm", name, check=False)


@pytest.fixture(scope="module")
def network(image: str) -> Iterator[str]:
    with outer_network() as name:
        yield name


@pytest.fixture(scope="module")
def server(network: str, busybox: str) -> Iterator[tuple[str, str]]:
    """A busybox httpd on the outer network with its interface at 1500: (name, address)."""
    name = unique("dfs-test-mtu-server")
    docker("run", "-d", "--name", name, "--network", network, "--cap-add", "NET_ADMIN",
           busybox, "sh", "-c", SERVER_SCRIPT)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while docker("exec", name, "ls", "/www/big", check=False).returncode != 0:
            assert time.monotonic() < deadline, docker("logs", name, check=False).stderr
            time.sleep(0.3)
        assert docker("exec", name, "cat", "/sys/class/net/eth0/mtu").stdout.strip() == "1500"
        # Without segmentation offload the server's TCP sends real 1500-byte frames; with
        # it, the kernel passes one large GSO packet over the 1360 veth and cuts it up only
        # behind it, which hides the failure users see from other machines' peers.
        in_netns_of(name, "ethtool", "-K", "eth0", "tso", "off", "gso", "off")
        template = '{{(index .NetworkSettings.Networks "' + network + '").IPAddress}}'
        address = docker("inspect", "-f", template, name)
        yield name, address.stdout.strip()
    finally:
        docker("rm", "-f", name, check=False)


@contextmanager
def nested_daemon(image: str, network: str, busybox_tar: Path, *env: str, volume: str = "") -> Iterator[Dind]:
    options = ["--network", network, "-e", "DOCKER_TLS_CERTDIR=", "-e", "DOCKER_LAUNCH_DEBUG=true"]
    options += ["-v", volume] if volume else []
    for item in env:
        options += ["-e", item]
    with dind(image, run_options=options) as daemon:
        daemon.load_image(busybox_tar)
        yield daemon


@pytest.fixture(scope="module")
def auto_daemon(image: str, network: str, busybox_tar: Path) -> Iterator[Dind]:
    with nested_daemon(image, network, busybox_tar) as daemon:
        yield daemon


def nested_eth0_mtu(daemon: Dind, *run_options: str) -> str:
    argv = ("docker", "run", "--rm", *run_options, NESTED_BUSYBOX, "cat", "/sys/class/net/eth0/mtu")
    return daemon.exec(*argv).stdout.strip()


def fetch_command(url: str, bound: float) -> str:
    """busybox wget under a time bound (this busybox's wget -T crashes), then the file's size."""
    return f"busybox timeout {bound:.0f} wget -q -O /tmp/big {url} && busybox wc -c < /tmp/big"


def download(daemon: Dind, server: tuple[str, str], bound: float) -> tuple[bool, float, str]:
    """Fetch the server's file in a nested container: (completed, seconds, output)."""
    start = time.monotonic()
    argv = ("docker", "run", "--rm", NESTED_BUSYBOX, "sh", "-c", fetch_command(f"http://{server[1]}:8080/big", bound))
    result = daemon.exec(*argv, check=False, timeout=bound + 60)
    took = time.monotonic() - start
    completed = result.returncode == 0 and str(SIZE_MB * 1024 * 1024) in result.stdout
    return completed, took, result.stdout + result.stderr


def test_mtu_nested_container_follows_outer_network(auto_daemon: Dind) -> None:
    """A nested container on the default bridge should get the outer network's MTU."""
    assert nested_eth0_mtu(auto_daemon) == str(OUTER_MTU)


def test_mtu_nested_user_network_inherits_outer_mtu(auto_daemon: Dind) -> None:
    """A nested `docker network create` network should get the outer network's MTU too."""
    name = unique("dfs-test-nested")
    auto_daemon.exec("docker", "network", "create", name)
    try:
        assert nested_eth0_mtu(auto_daemon, "--network", name) == str(OUTER_MTU)
    finally:
        auto_daemon.exec("docker", "network", "rm", name, check=False)


def test_mtu_debug_log_names_interface_value_and_reason(auto_daemon: Dind) -> None:
    """--debug should log the interface, the value and why, and the arguments dockerd got."""
    logs = auto_daemon.logs()
    assert f"mtu: {OUTER_MTU} from eth0 (the default route's interface has {OUTER_MTU} < 1500)" in logs
    assert f"bridge=com.docker.network.driver.mtu={OUTER_MTU}" in logs


def test_mtu_large_download_completes_within_bound(auto_daemon: Dind, server: tuple[str, str]) -> None:
    """A multi-MB download from a full-size-frame server to a nested container should complete."""
    completed, took, output = download(auto_daemon, server, TRANSFER_BOUND_S)
    assert completed, output
    assert took < TRANSFER_BOUND_S


def test_mtu_large_upload_completes_within_bound(auto_daemon: Dind, server: tuple[str, str]) -> None:
    """A multi-MB transfer from a nested container (a published port) to the server should complete."""
    nested = unique("dfs-test-nested-httpd")
    run = ("docker", "run", "-d", "--name", nested, "-p", "8081:8080", NESTED_BUSYBOX, "sh", "-c", HTTPD_SCRIPT)
    auto_daemon.exec(*run)
    try:
        deadline = time.monotonic() + 60
        while auto_daemon.exec("docker", "exec", nested, "ls", "/www/big", check=False).returncode != 0:
            assert time.monotonic() < deadline, "nested httpd did not start"
            time.sleep(0.3)
        address = docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", auto_daemon.name)
        start = time.monotonic()
        # The server (eth0 at 1500) fetches: the nested container is the sender now.
        url = f"http://{address.stdout.strip()}:8081/big"
        result = docker("exec", server[0], "sh", "-c", fetch_command(url, TRANSFER_BOUND_S),
                        check=False, timeout=TRANSFER_BOUND_S + 60)  # fmt: skip
        took = time.monotonic() - start
        assert result.returncode == 0 and str(SIZE_MB * 1024 * 1024) in result.stdout, result.stdout + result.stderr
        assert took < TRANSFER_BOUND_S
    finally:
        auto_daemon.exec("docker", "rm", "-f", nested, check=False)


def test_mtu_off_large_download_stalls(image: str, network: str, busybox_tar: Path, server: tuple[str, str]) -> None:
    """With DOCKER_LAUNCH_MTU=off the nested container keeps 1500 and the same download should stall."""
    with nested_daemon(image, network, busybox_tar, "DOCKER_LAUNCH_MTU=off") as daemon:
        assert nested_eth0_mtu(daemon) == "1500"
        assert "mtu: dockerd's default (DOCKER_LAUNCH_MTU=off)" in daemon.logs()
        completed, _took, output = download(daemon, server, STALL_WAIT_S)
        assert not completed, output


def test_mtu_nested_compose_network_inherits_outer_mtu(plugin_image: str, busybox_tar: Path, tmp_path: Path) -> None:
    """A nested compose project's default network should get the outer network's MTU."""
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    project = unique("dfs-mtu").replace("-", "")
    compose = ("docker", "compose", "-f", "/work/compose.yaml", "-p", project)
    with ExitStack() as stack:
        network = stack.enter_context(outer_network())
        daemon = stack.enter_context(nested_daemon(plugin_image, network, busybox_tar, volume=f"{tmp_path}:/work:ro"))
        stack.callback(daemon.exec, *compose, "down", check=False, timeout=300)
        result = daemon.exec(*compose, "run", "--rm", "probe", timeout=300)
        assert result.stdout.strip() == str(OUTER_MTU), result.stdout + result.stderr
        options = daemon.exec("docker", "network", "inspect", "-f", "{{json .Options}}", f"{project}_default")
        assert f'"com.docker.network.driver.mtu":"{OUTER_MTU}"' in options.stdout


def test_mtu_launcher_bridge_gets_outer_mtu(image: str, network: str, busybox_tar: Path) -> None:
    """The bridge the launcher makes for --bip with -b should get the outer MTU, and so its containers."""
    options = ["--network", network, "-e", "DOCKER_LAUNCH_DEBUG=true"]
    with dind(image, "--bip", "192.0.2.1/24", "-b", "br12", run_options=options) as daemon:
        # dockerd's --mtu would set an existing bridge's MTU as well: the log shows the launcher did.
        assert f"bridge br12: mtu {OUTER_MTU}" in daemon.logs()
        bridge_mtu = daemon.exec("sh", "-c", "read m < /sys/class/net/br12/mtu; echo $m").stdout.strip()
        assert bridge_mtu == str(OUTER_MTU)
        daemon.load_image(busybox_tar)
        assert nested_eth0_mtu(daemon) == str(OUTER_MTU)


@contextmanager
def rootless_daemon(rootless_image: str, busybox_tar: Path, tmp_path: Path, *options: str) -> Iterator[Dind]:
    """The rootless image on its own outer network at 1360, busybox loaded."""
    with ExitStack() as stack:
        network = stack.enter_context(outer_network())
        run_options = ["--network", network, "-e", "DOCKER_LAUNCH_DEBUG=true", *tun_flags(make_tun_node(tmp_path))]
        daemon = stack.enter_context(dind(rootless_image, run_options=[*run_options, *options], data_root=DATA_ROOT))
        daemon.load_image(busybox_tar)
        yield daemon


def test_mtu_rootless_nested_networks_follow_outer_mtu(rootless_image: str, busybox_tar: Path, tmp_path: Path) -> None:
    """Rootless, rootlesskit's tap device and the nested default bridge and new networks should get the outer MTU."""
    with rootless_daemon(rootless_image, busybox_tar, tmp_path) as daemon:
        logs = daemon.logs()
        assert f"rootlesskit --net=slirp4netns --mtu={OUTER_MTU}" in logs
        assert f"mtu: {OUTER_MTU} from tap0" in logs
        assert nested_eth0_mtu(daemon) == str(OUTER_MTU)
        name = unique("dfs-test-nested")
        daemon.exec("docker", "network", "create", name)
        assert nested_eth0_mtu(daemon, "--network", name) == str(OUTER_MTU)


def test_mtu_rootless_daemon_json_mtu_wins(rootless_image: str, busybox_tar: Path, tmp_path: Path) -> None:
    """Rootless, an "mtu" in ~/.config/docker/daemon.json should win (and dockerd start: no second --mtu)."""
    (tmp_path / "daemon.json").write_text('{"mtu": 1300}\n')
    config = f"{tmp_path / 'daemon.json'}:/home/rootless/.config/docker/daemon.json:ro"
    with rootless_daemon(rootless_image, busybox_tar, tmp_path, "-v", config) as daemon:
        assert "mtu: dockerd's default (daemon.json sets mtu)" in daemon.logs()
        assert nested_eth0_mtu(daemon) == "1300"
