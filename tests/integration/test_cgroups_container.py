"""The environment steps inside a real container of the host engine, then a nested dockerd.

The container is what our image will meet: started with privileged_flags(), it gets a
read-only /sys and read-only cgroup binds (measured here). Its file system is the host's
own /usr, bind-mounted read-only, under an imported image of four top-level links (no
registry pull, no build). The steps run from the repository's src; then the host's own
dockerd runs nested and must start a container: the proof that the cgroup recipe works.
"""

import io
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from docker_from_scratch.host import privileged_flags
from tests.testing.engine import busybox_rootfs_tar, docker, unique

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not Path("/usr/sbin/dockerd").exists(), reason="needs the host's dockerd to nest"),
]

SRC = Path(__file__).resolve().parents[2] / "src"
IMAGE = "dfs-test-hostusr:latest"
STEPS = """
import os
from docker_from_scratch.launcher import cgroups, files, iptables, kmod, limits, log, mounts
log.set_debug(True)
mounts.mount_api_filesystems()
cgroups.mount_cgroups()
mounts.make_root_rshared()
files.prepare_layout()
kmod.load_modules()
print("PATH=" + iptables.choose(dict(os.environ)))
limits.raise_nofile()
"""


def host_usr_image() -> str:
    """An image of the merged-/usr links only; /usr itself comes from the host at run time."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in ("etc", "proc", "sys", "dev", "run", "tmp", "var", "root", "usr"):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if name == "tmp" else 0o755
            tar.addfile(info)
        for link, target in (("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib"), ("lib64", "usr/lib64")):
            info = tarfile.TarInfo(link)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    if docker("image", "inspect", IMAGE, check=False).returncode != 0:
        docker("import", "-", IMAGE, input=buffer.getvalue())
    return IMAGE


@pytest.fixture
def container(tmp_path: Path, engine: None) -> Iterator[str]:
    busybox = tmp_path / "busybox.tar"
    busybox.write_bytes(busybox_rootfs_tar())
    name, volume = unique("dfs-test-env"), unique("dfs-test-env-data")
    docker(
        "run", "-d", "--name", name, *privileged_flags(),
        "-v", "/usr:/usr:ro", "-v", f"{SRC}:/src:ro", "-v", f"{busybox}:/busybox.tar:ro",
        # Debian's /usr/sbin/iptables goes through /etc/alternatives; our image links directly.
        "-v", "/etc/alternatives:/etc/alternatives:ro",
        "-v", f"{volume}:/var/lib/docker", "-e", "PYTHONPATH=/src",
        host_usr_image(), "sleep", "600",
    )  # fmt: skip
    try:
        yield name
    finally:
        docker("rm", "-f", "-v", name, check=False)
        docker("volume", "rm", "-f", volume, check=False)


def run_steps(name: str) -> str:
    result = docker("exec", name, "python3", "-c", STEPS)
    return result.stderr + result.stdout


def wait_for_nested_daemon(name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if docker("exec", name, "docker", "version", check=False, timeout=30).returncode == 0:
            return
        time.sleep(0.5)
    log = docker("exec", name, "cat", "/run/dockerd.log", check=False).stdout
    raise AssertionError(f"nested dockerd did not answer:\n{log[-3000:]}")


def test_cgroups_container_steps_let_a_nested_dockerd_run_containers(container: str) -> None:
    """After the steps, /sys and every cgroup mount are writable and a nested `docker run`/`exec` works."""
    log = run_steps(container)
    assert "/sys: remounted read-write" in log
    assert "replacing the cgroup tree" in log
    table = docker("exec", container, "cat", "/proc/self/mountinfo").stdout
    cgroup_lines = [line for line in table.splitlines() if " - cgroup " in line]
    assert cgroup_lines and not any(line.split()[5].startswith("ro") for line in cgroup_lines)

    docker("exec", "-d", container, "sh", "-c", "exec dockerd >/run/dockerd.log 2>&1")
    wait_for_nested_daemon(container)
    docker("exec", container, "docker", "import", "/busybox.tar", "nested-busybox")
    hello = docker("exec", container, "docker", "run", "--rm", "nested-busybox", "echo", "hello from nested").stdout
    assert hello.strip() == "hello from nested"
    docker("exec", container, "docker", "run", "-d", "--name", "sleeper", "nested-busybox", "sleep", "60")
    assert docker("exec", container, "docker", "exec", "sleeper", "echo", "exec ok").stdout.strip() == "exec ok"
    # Nested containers live below the outer one's cgroup, as under --privileged.
    nested = docker("exec", container, "docker", "exec", "sleeper", "cat", "/proc/self/cgroup").stdout
    outer = docker("exec", container, "cat", "/proc/self/cgroup").stdout
    outer_memory = next(line.split(":", 2)[2] for line in outer.splitlines() if ":memory:" in line)
    nested_memory = next(line.split(":", 2)[2] for line in nested.splitlines() if ":memory:" in line)
    assert nested_memory.startswith(outer_memory.rstrip("/") + "/docker/")


def test_cgroups_container_second_launch_changes_nothing(container: str) -> None:
    """Run again in the same container, every step should skip: same mount table, nothing mounted."""
    run_steps(container)
    before = docker("exec", container, "cat", "/proc/self/mountinfo").stdout
    log = run_steps(container)
    after = docker("exec", container, "cat", "/proc/self/mountinfo").stdout
    assert after == before
    for word in (": mounted", "remounted", "replacing", "created", "linked"):
        assert word not in log, word
