"""Restart with nothing lost: stop and start the DinD container on the same /var/lib/docker
volume; every nested image, container, volume and network comes back, volume data is
byte-identical, and restart policies are honoured."""

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.testing.engine import Dind, dind, docker
from tests.testing.procs import sleep_until
from tests.testing.reliability import SERVICE_SCRIPT

NESTED = "dfs-test-busybox:latest"
VOLUMES = ("data-1", "data-2")
# The network rule: nested networks use documentation ranges too.
SUBNET = "198.51.100.0/26"


def exec_bytes(daemon: Dind, *argv: str, stdin: bytes | None = None) -> bytes:
    """`docker exec` with binary input and output (volume data must compare byte for byte)."""
    options = ["-i"] if stdin is not None else []
    result = subprocess.run(["docker", "exec", *options, daemon.name, *argv], input=stdin,
                            capture_output=True, timeout=120, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout


def inventory(daemon: Dind) -> dict[str, list[str]]:
    """What the nested daemon holds: image refs and ids, containers, volumes, networks."""

    def lines(*argv: str) -> list[str]:
        return sorted(daemon.exec("docker", *argv).stdout.split("\n")[:-1])

    networks = lines("network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Internal}}")
    subnets = [
        daemon.exec("docker", "network", "inspect", "-f", "{{.Name}} {{range .IPAM.Config}}{{.Subnet}}{{end}}",
                    name.split()[0]).stdout.strip()
        for name in networks
    ]  # fmt: skip
    return {
        "images": lines("image", "ls", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"),
        "containers": lines("ps", "-a", "--format", "{{.Names}} {{.Image}} {{.Networks}}"),
        "volumes": lines("volume", "ls", "--format", "{{.Name}} {{.Driver}}"),
        "networks": networks,
        "subnets": sorted(subnets),
    }


def running(daemon: Dind, name: str) -> bool:
    return daemon.exec("docker", "inspect", "-f", "{{.State.Running}}", name).stdout.strip() == "true"


@pytest.fixture(scope="module")
def restarted(image: str, busybox_tar: Path) -> Iterator[tuple[Dind, dict[str, list[str]], dict[str, bytes]]]:
    """A DinD daemon given images, volumes with random data, networks and containers in
    every state, then stopped and started on its volume; yields it with the inventory
    taken before the restart and the bytes written into each volume."""
    with dind(image) as daemon:
        daemon.load_image(busybox_tar)
        run = ["docker", "run", "-d"]
        daemon.exec("docker", "network", "create", "--subnet", SUBNET, "net-a")
        daemon.exec("docker", "network", "create", "--internal", "net-b")
        blobs = {}
        for volume in VOLUMES:
            blobs[volume] = os.urandom(256 * 1024)
            daemon.exec("docker", "volume", "create", volume)
            exec_bytes(daemon, "docker", "run", "--rm", "-i", "-v", f"{volume}:/d", NESTED, "sh", "-c",
                       "cat > /d/blob", stdin=blobs[volume])  # fmt: skip
        # Images: two commits with their own content, and a second tag of busybox.
        for index in (1, 2):
            daemon.exec("docker", "run", "--name", f"source-{index}", NESTED, "sh", "-c", f"echo {index} > /made")
            daemon.exec("docker", "commit", f"source-{index}", f"dfs-made:{index}")
        daemon.exec("docker", "tag", NESTED, "dfs-tagged:keep")
        # Containers in every state, with every restart policy that decides a restart.
        service = [NESTED, "sh", "-c", SERVICE_SCRIPT]
        daemon.exec(*run, "--name", "always", "--restart", "always", "--network", "net-a", "-v", "data-1:/d", *service)
        daemon.exec(*run, "--name", "unless", "--restart", "unless-stopped", "--network", "net-b", *service)
        daemon.exec(*run, "--name", "unless-stopped-by-user", "--restart", "unless-stopped", *service)
        daemon.exec(*run, "--name", "no-policy", *service)
        daemon.exec("docker", "create", "--name", "created", "-v", "data-2:/d", NESTED, "true")
        daemon.exec("docker", "run", "--name", "exited", "dfs-made:1", "cat", "/made")
        for name in ("always", "unless", "unless-stopped-by-user", "no-policy"):  # SIGTERM handlers are set
            assert sleep_until(lambda n=name: "ready" in daemon.exec("docker", "logs", n).stdout), name
        daemon.exec("docker", "stop", "unless-stopped-by-user")
        before = inventory(daemon)
        print(f"nested objects before the restart: { {kind: len(items) for kind, items in before.items()} }")
        docker("stop", daemon.name)
        docker("start", daemon.name)
        daemon.wait_ready()
        yield daemon, before, blobs


def test_restart_keeps_every_nested_object(restarted: tuple[Dind, dict[str, list[str]], dict[str, bytes]]) -> None:
    """After stop and start, the nested images, containers, volumes and networks should all be back."""
    daemon, before, _ = restarted
    assert inventory(daemon) == before


def test_restart_keeps_volume_data_byte_identical(
    restarted: tuple[Dind, dict[str, list[str]], dict[str, bytes]],
) -> None:
    """After stop and start, each nested volume should hold exactly the bytes written before."""
    daemon, _, blobs = restarted
    for volume, blob in blobs.items():
        read = exec_bytes(daemon, "docker", "run", "--rm", "-v", f"{volume}:/d", NESTED, "cat", "/d/blob")
        assert read == blob, f"{volume}: {len(read)} bytes back, {len(blob)} written"


def test_restart_honours_restart_policies(restarted: tuple[Dind, dict[str, list[str]], dict[str, bytes]]) -> None:
    """After stop and start, always/unless-stopped containers should run again; the rest stay stopped."""
    daemon, _, _ = restarted
    back = sleep_until(lambda: running(daemon, "always") and running(daemon, "unless"), timeout=30)
    assert back, daemon.exec("docker", "ps", "-a").stdout
    stays_down = ["unless-stopped-by-user", "no-policy", "created", "exited"]
    assert [name for name in stays_down if running(daemon, name)] == []
    # The restarted container is back on its network, with its volume.
    assert daemon.exec("docker", "exec", "always", "ls", "/d").stdout.split() == ["blob"]
    networks = daemon.exec("docker", "inspect", "-f", "{{json .NetworkSettings.Networks}}", "always").stdout
    assert '"net-a"' in networks
