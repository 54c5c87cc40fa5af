"""The seed's commands, end to end: our image as a DinD daemon on the host engine."""

import lzma
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.testing import gitserve
from tests.testing.engine import ENGINE_VERSIONS, Dind, dind, docker, image_suite, unique
from tests.testing.gitserve import git_daemon, make_repo
from tests.testing.procs import sleep_until, zombies_of

NESTED_BUSYBOX = "dfs-test-busybox:latest"


@pytest.fixture(scope="module")
def daemon(image: str, busybox_tar: Path) -> Iterator[Dind]:
    """One DinD daemon (default arguments) with the busybox image loaded, for this module."""
    with dind(image) as container:
        container.load_image(busybox_tar)
        yield container


def test_seed_exec_docker_ps_works(daemon: Dind) -> None:
    """`docker exec daemon docker ps` should list the nested daemon's containers."""
    result = daemon.exec("docker", "ps")
    assert result.stdout.splitlines()[0].startswith("CONTAINER ID")


def test_seed_engine_comes_from_the_suite(daemon: Dind, image: str) -> None:
    """`docker version` inside should report the suite's engine (trixie 26.1, forky 28.5) for both."""
    expected = ENGINE_VERSIONS[image_suite(image)]
    result = daemon.exec("docker", "version", "--format", "{{.Client.Version}} {{.Server.Version}}")
    client, server = result.stdout.split()
    assert server.startswith(expected), server
    assert client.startswith(expected), client


def test_nested_run_prints_output(daemon: Dind) -> None:
    """A nested `docker run` of a locally loaded image should print its output."""
    result = daemon.exec("docker", "run", "--rm", NESTED_BUSYBOX, "echo", "hello from the nest")
    assert result.stdout.strip() == "hello from the nest"


def test_nested_container_gets_bridge_address(daemon: Dind) -> None:
    """Bridge networking should give the nested container an address on docker0's subnet."""
    subnet = daemon.exec(
        "docker", "network", "inspect", "bridge", "--format", "{{(index .IPAM.Config 0).Subnet}}"
    ).stdout.strip()
    result = daemon.exec("docker", "run", "--rm", NESTED_BUSYBOX, "ip", "-4", "-o", "addr", "show", "eth0")
    prefix = ".".join(subnet.split(".")[:2]) + "."
    assert f"inet {prefix}" in result.stdout, (subnet, result.stdout)


def test_nested_exec_logs_and_top_work(daemon: Dind) -> None:
    """`docker exec`, `docker logs` and `docker top` (which needs ps) should work inside."""
    name = unique("nested")
    daemon.exec("docker", "run", "-d", "--name", name, NESTED_BUSYBOX, "sh", "-c", "echo started; exec sleep 300")
    try:
        assert daemon.exec("docker", "exec", name, "echo", "exec works").stdout.strip() == "exec works"
        assert sleep_until(lambda: "started" in daemon.exec("docker", "logs", name).stdout)
        top = daemon.exec("docker", "top", name).stdout
        assert "sleep 300" in top, top
    finally:
        daemon.exec("docker", "rm", "-f", name, check=False)


def test_nested_build_of_small_dockerfile(daemon: Dind) -> None:
    """`docker build` of a small Dockerfile should build an image that runs."""
    dockerfile = f"FROM {NESTED_BUSYBOX}\nRUN echo built > /built\nCMD [\"cat\", \"/built\"]\n".encode()
    daemon.exec("docker", "build", "-q", "-t", "dfs-built", "-", input=dockerfile)
    assert daemon.exec("docker", "run", "--rm", "dfs-built").stdout.strip() == "built"


def test_nested_build_from_git_daemon(daemon: Dind, tmp_path: Path) -> None:
    """`docker build git://127.0.0.1/repo` should clone with the image's git and build."""
    dockerfile = f"FROM {NESTED_BUSYBOX}\nRUN echo from-git > /origin\nCMD [\"cat\", \"/origin\"]\n"
    make_repo(tmp_path / "repo", {"Dockerfile": dockerfile})
    with git_daemon(daemon, tmp_path, "repo"):
        daemon.exec("docker", "build", "-q", "-t", "dfs-from-git", gitserve.url("repo"))
        assert daemon.exec("docker", "run", "--rm", "dfs-from-git").stdout.strip() == "from-git"


def test_nested_build_from_git_checks_out_submodules(daemon: Dind, tmp_path: Path) -> None:
    """A git build context with a submodule should build with the submodule's files in it."""
    make_repo(tmp_path / "sub", {"greeting": "from-submodule\n"})
    dockerfile = f"FROM {NESTED_BUSYBOX}\nCOPY sub/greeting /greeting\nCMD [\"cat\", \"/greeting\"]\n"
    make_repo(tmp_path / "super", {"Dockerfile": dockerfile}, submodules={"sub": "sub"})
    with git_daemon(daemon, tmp_path, "super"):
        daemon.exec("docker", "build", "-q", "-t", "dfs-from-git-sub", gitserve.url("super"))
        assert daemon.exec("docker", "run", "--rm", "dfs-from-git-sub").stdout.strip() == "from-submodule"


def test_git_submodule_messages_keep_their_text(daemon: Dind, tmp_path: Path) -> None:
    """`git submodule` should run clean and print its usage with the names filled in.

    git-submodule builds its usage text through git-sh-setup's eval_gettext at every start,
    which runs git-sh-i18n--envsubst (the image's dash stand-in).
    """
    make_repo(tmp_path / "sub", {"greeting": "hi\n"})
    make_repo(tmp_path / "super", {"README": "x\n"}, submodules={"sub": "sub"})
    clone = f"/tmp/{unique('clone')}"  # the image has no rm: it goes with the DinD container
    with git_daemon(daemon, tmp_path, "super"):
        cloned = daemon.exec("git", "clone", "-q", "--recurse-submodules", gitserve.url("super"), clone)
    assert cloned.stderr == "", cloned.stderr
    status = daemon.exec("git", "-C", clone, "submodule", "status")
    assert status.stderr == "" and " sub " in status.stdout, (status.stdout, status.stderr)
    usage = daemon.exec("git", "-C", clone, "submodule", "-h", check=False)
    assert usage.stdout.startswith("usage: git submodule [--quiet] [--cached]"), (usage.stdout, usage.stderr)
    assert usage.stderr == "", usage.stderr


def test_nested_load_of_xz_image(daemon: Dind, busybox_tar: Path, tmp_path: Path) -> None:
    """`xz -c image.tar | docker load` should work: dockerd runs the image's xz."""
    compressed = lzma.compress(busybox_tar.read_bytes(), format=lzma.FORMAT_XZ)
    result = daemon.exec("docker", "load", input=compressed)
    assert "dfs-test-busybox" in result.stdout


def test_seed_daemon_s_overlay_runs_overlay2(image: str) -> None:
    """The seed's `IMAGE daemon -s overlay` should start dockerd with overlay2."""
    with dind(image, "daemon", "-s", "overlay") as container:
        driver = container.exec("docker", "info", "--format", "{{.Driver}}").stdout.strip()
        assert driver == "overlay2"
        assert "using overlay2" in container.logs()


def test_seed_daemon_s_aufs_fails_naming_overlay2(image: str) -> None:
    """`IMAGE daemon -s aufs` should exit 2 at once with the launcher's error naming overlay2."""
    from tests.testing.engine import dind_flags

    result = subprocess.run(
        ["docker", "run", "--rm", *dind_flags(), image, "daemon", "-s", "aufs"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "aufs" in lines[0] and "overlay2" in lines[0], result.stderr


def test_debug_lines_show_in_docker_logs(image: str) -> None:
    """-e DOCKER_LAUNCH_DEBUG=true should put the launcher's step log into `docker logs`."""
    with dind(image, run_options=["-e", "DOCKER_LAUNCH_DEBUG=true"]) as container:
        logs = container.logs()
    assert "dockerlaunch: debug:" in logs
    assert "cgroups" in logs and "exec " in logs


def test_custom_bridge_gets_address_and_serves_containers(image: str, busybox_tar: Path) -> None:
    """`IMAGE --bip 192.0.2.1/24 -b br-test` should create br-test and put containers on it."""
    with dind(image, "--bip", "192.0.2.1/24", "-b", "br-test") as container:
        state = container.exec("sh", "-c", "read s < /sys/class/net/br-test/operstate; echo $s").stdout
        assert state.strip() in ("up", "unknown"), state
        container.load_image(busybox_tar)
        result = container.exec("docker", "run", "--rm", NESTED_BUSYBOX, "ip", "-4", "-o", "addr", "show", "eth0")
        assert "inet 192.0.2." in result.stdout, result.stdout


def test_reap_mode_with_host_pid_leaves_no_zombie(image: str, busybox_tar: Path) -> None:
    """With --pid=host and DOCKER_LAUNCH_REAP=true, nested runs should leave no zombie."""
    with dind(image, run_options=["--pid=host", "-e", "DOCKER_LAUNCH_REAP=true"]) as container:
        container.load_image(busybox_tar)
        for index in range(5):
            container.exec("docker", "run", "--rm", NESTED_BUSYBOX, "echo", str(index))
        init_pid = int(docker("inspect", "-f", "{{.State.Pid}}", container.name).stdout)
        with open(f"/proc/{init_pid}/comm") as handle:
            assert handle.read().strip() in ("docker-init", "tini-static", "tini")
        assert sleep_until(lambda: not zombies_of(init_pid), timeout=10), zombies_of(init_pid)


def test_volume_keeps_nested_images_across_restart(image: str, busybox_tar: Path) -> None:
    """A second DinD container on the same /var/lib/docker volume should see the images."""
    volume = unique("dfs-test-keep")
    try:
        with dind(image, volume=volume, keep_volume=True) as first:
            first.load_image(busybox_tar)
        with dind(image, volume=volume) as second:
            result = second.exec("docker", "run", "--rm", NESTED_BUSYBOX, "echo", "kept")
            assert result.stdout.strip() == "kept"
    finally:
        docker("volume", "rm", "-f", volume, check=False)
