"""The rootless variant: its table rows, probes on fixture trees, the launcher's decisions."""

import os
from pathlib import Path

import pytest

from docker_from_scratch.launcher import preflight, rootless
from docker_from_scratch.launcher.args import parse
from docker_from_scratch.launcher.errors import LaunchError, UsageError
from docker_from_scratch.requirements import probes
from docker_from_scratch.requirements.table import by_name, image_rows, rootless_rows


def write(path: Path, text: str = "", mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def test_image_rows_take_rootless_rows_only_for_rootless_images() -> None:
    """rootlesskit and uidmap should go into a --rootless image only."""
    assert "rootlesskit" not in {row.name for row in image_rows(slim=False)}
    names = {row.name for row in image_rows(slim=False, rootless=True)}
    assert {"rootlesskit", "slirp4netns", "uid map tools", "fuse-overlayfs"} <= names


def test_rootless_rows_never_stop_the_rootful_preflight() -> None:
    """The rootful pre-flight should never test a rootless row."""
    assert not set(rootless_rows()) & set(preflight.preflight_rows())


def test_subids_probe_counts_the_users_ranges(tmp_path: Path) -> None:
    """A user with 65,536 ids in both files should pass; by name or by uid."""
    uid = os.geteuid()
    write(tmp_path / "etc/passwd", f"someone:x:{uid}:{uid}::/:/bin/sh\n")
    write(tmp_path / "etc/subuid", "someone:100000:65536\n")
    write(tmp_path / "etc/subgid", f"{uid}:100000:65536\n")
    assert probes.run_probe(by_name("subordinate ids"), os.fspath(tmp_path)).ok


def test_subids_probe_refuses_a_missing_range(tmp_path: Path) -> None:
    """An empty /etc/subgid should fail, naming the file and the fix."""
    write(tmp_path / "etc/subuid", f"{os.geteuid()}:100000:65536\n")
    write(tmp_path / "etc/subgid", "")
    result = probes.run_probe(by_name("subordinate ids"), os.fspath(tmp_path))
    assert not result.ok and "/etc/subgid" in result.detail and "0 ids" in result.detail


@pytest.mark.parametrize(
    ("files", "detail"),
    [
        ({"proc/sys/user/max_user_namespaces": "0\n"}, "user.max_user_namespaces is 0"),
        (
            {"proc/sys/user/max_user_namespaces": "63000\n", "proc/sys/kernel/unprivileged_userns_clone": "0\n"},
            "kernel.unprivileged_userns_clone is 0",
        ),
    ],
    ids=["max-user-namespaces", "unprivileged-userns-clone"],
)
def test_userns_sysctl_probe_names_the_sysctl(tmp_path: Path, files: dict[str, str], detail: str) -> None:
    """A sysctl that turns user namespaces off should fail, naming it; the hint gives both."""
    for name, text in files.items():
        write(tmp_path / name, text)
    result = probes.run_probe(by_name("user namespaces"), os.fspath(tmp_path))
    assert not result.ok and result.detail == detail
    assert "user.max_user_namespaces" in result.hint and "kernel.unprivileged_userns_clone" in result.hint


def test_userns_sysctl_probe_passes_without_debians_sysctl(tmp_path: Path) -> None:
    """Kernels without kernel.unprivileged_userns_clone (upstream) should pass on the limit alone."""
    write(tmp_path / "proc/sys/user/max_user_namespaces", "63000\n")
    assert probes.run_probe(by_name("user namespaces"), os.fspath(tmp_path)).ok


def test_setuid_probe_refuses_a_plain_program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """newuidmap without its setuid bit (or file capabilities) should fail."""
    write(tmp_path / "usr/bin/newuidmap", "#!/bin/sh\n", 0o755)
    write(tmp_path / "usr/bin/newgidmap", "#!/bin/sh\n", 0o4755)
    monkeypatch.setenv("PATH", "/usr/bin")
    result = probes.run_probe(by_name("uid map tools"), os.fspath(tmp_path))
    assert not result.ok and "newuidmap is neither setuid root" in result.detail


def test_setuid_probe_accepts_setuid_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both programs setuid and owned by root should pass (the tests run as root)."""
    for name in ("newuidmap", "newgidmap"):
        write(tmp_path / "usr/bin" / name, "#!/bin/sh\n", 0o4755)
    monkeypatch.setenv("PATH", "/usr/bin")
    assert probes.run_probe(by_name("uid map tools"), os.fspath(tmp_path)).ok == (os.geteuid() == 0)


def test_published_ports_forward_dockerds_tcp_hosts() -> None:
    """Each tcp:// host of dockerd should become a rootlesskit --publish spec; unix hosts none."""
    args = ["--host=unix:///run/user/1000/docker.sock", "--host=tcp://0.0.0.0:2376", "-H", "tcp://:2375"]
    assert rootless.published_ports(args) == ["0.0.0.0:2376:2376/tcp", "0.0.0.0:2375:2375/tcp"]


def test_network_reads_docker_dind_rootless_variables(tmp_path: Path) -> None:
    """NET, MTU and PORT_DRIVER should come from DOCKERD_ROOTLESS_ROOTLESSKIT_*."""
    env = {
        "DOCKERD_ROOTLESS_ROOTLESSKIT_NET": "pasta",
        "DOCKERD_ROOTLESS_ROOTLESSKIT_MTU": "1400",
        "DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER": "implicit",
    }
    assert rootless.network(env, os.fspath(tmp_path)) == ("pasta", 1400, "implicit")


# /proc/net/route as the kernel writes it: a default route via eth0, then its subnet.
ROUTE_TABLE = (
    "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n"
    "eth0\t00000000\t010011AC\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
    "eth0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
)


def test_network_mtu_defaults_to_the_uplinks(tmp_path: Path) -> None:
    """Without DOCKERD_ROOTLESS_ROOTLESSKIT_MTU the MTU should be the default route's interface's."""
    write(tmp_path / "proc/net/route", ROUTE_TABLE)
    write(tmp_path / "sys/class/net/eth0/mtu", "1360\n")
    assert rootless.network({}, os.fspath(tmp_path)) == ("slirp4netns", 1360, "builtin")


def test_network_refuses_a_bad_mtu() -> None:
    """A non-numeric MTU should be a usage error naming the variable."""
    with pytest.raises(UsageError, match="DOCKERD_ROOTLESS_ROOTLESSKIT_MTU='big'"):
        rootless.network({"DOCKERD_ROOTLESS_ROOTLESSKIT_MTU": "big"})


def test_rootlesskit_argv_adds_the_users_flags_last() -> None:
    """DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS should follow the launcher's own flags, split on spaces."""
    options = parse(["/usr/bin/dockerd"], {"DOCKER_TLS_CERTDIR": ""})
    env = {"XDG_RUNTIME_DIR": "/run/user/1000", "DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS": "--pidns  --cgroupns"}
    argv = rootless.rootlesskit_argv(options, env, "slirp4netns", 1500, "builtin")
    assert argv[:4] == ["rootlesskit", "--state-dir=/run/user/1000/dockerd-rootless", "--net=slirp4netns", "--mtu=1500"]
    assert "--publish=0.0.0.0:2375:2375/tcp" in argv
    assert argv[-2:] == ["--pidns", "--cgroupns"]


@pytest.mark.parametrize(("release", "fuse"), [("6.1.0-28-amd64", False), ("5.13.0", False), ("5.10.0-33-amd64", True)])
def test_storage_driver_uses_fuse_overlayfs_before_5_13(release: str, fuse: bool) -> None:
    """Kernels before 5.13 should get fuse-overlayfs; later ones native overlay2."""
    options = parse(["/usr/bin/dockerd"], {})
    assert rootless.storage_driver(options, release) == (["--storage-driver=fuse-overlayfs"] if fuse else [])


def test_check_directory_refuses_an_unset_runtime_dir() -> None:
    """An unset XDG_RUNTIME_DIR should fail naming the variable."""
    with pytest.raises(LaunchError, match="XDG_RUNTIME_DIR is not set"):
        rootless.check_directory("XDG_RUNTIME_DIR", None)


def test_check_verdict_names_rootless_rows_apart(tmp_path: Path) -> None:
    """Missing rootless rows should not count as losses of the rootful daemon, but be named for --rootless."""
    from docker_from_scratch.doctor.report import run_check

    write(tmp_path / "proc/self/status", "Uid:\t0\t0\t0\t0\n")
    report = run_check([by_name("root"), by_name("subordinate ids")], root=os.fspath(tmp_path))
    assert report.docker_can_run
    verdict = "Docker can run here; every requirement was found; rootless mode also needs: subordinate ids"
    assert report.verdict() == verdict


def test_rootlesskit_argv_leaves_a_user_published_port_to_the_user() -> None:
    """A -p of dockerd's port in DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS should be published once, as the user gave it."""
    options = parse(["/usr/bin/dockerd", "-H", "tcp://0.0.0.0:2376"], {"DOCKER_TLS_CERTDIR": ""})
    env = {"XDG_RUNTIME_DIR": "/run/user/1000", "DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS": "-p 127.0.0.1:2376:2376/tcp"}
    argv = rootless.rootlesskit_argv(options, env, "slirp4netns", 1500, "builtin")
    assert [word for word in argv if "2376" in word] == ["127.0.0.1:2376:2376/tcp"]
    env["DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS"] = "--publish=0.0.0.0:8080:80/tcp"
    argv = rootless.rootlesskit_argv(options, env, "slirp4netns", 1500, "builtin")
    assert "--publish=0.0.0.0:2376:2376/tcp" in argv and argv[-1] == "--publish=0.0.0.0:8080:80/tcp"


def test_rootless_inputs_are_the_files_rootless_dockerd_reads() -> None:
    """The checked data root and daemon.json should be rootless dockerd's (XDG or ~/.local, ~/.config) or the user's."""
    options = parse(["/usr/bin/dockerd"], {"DOCKER_TLS_CERTDIR": ""})
    inputs = rootless.dockerd_inputs(options, {"HOME": "/home/rootless"})
    assert inputs.data_root == "/home/rootless/.local/share/docker"
    assert inputs.config_file == "/home/rootless/.config/docker/daemon.json"
    xdg = rootless.dockerd_inputs(options, {"HOME": "/h", "XDG_DATA_HOME": "/d", "XDG_CONFIG_HOME": "/c"})
    assert (xdg.data_root, xdg.config_file) == ("/d/docker", "/c/docker/daemon.json")
    own = parse(["/usr/bin/dockerd", "--data-root", "/data", "--config-file", "/cfg.json"], {"DOCKER_TLS_CERTDIR": ""})
    mine = rootless.dockerd_inputs(own, {"HOME": "/h"})
    assert (mine.data_root, mine.config_file) == ("/data", "/cfg.json")
    assert options.data_root == "/var/lib/docker" and options.config_file is None  # the caller's stay as they were


def test_rootless_inputs_refuse_a_broken_daemon_json(tmp_path: Path) -> None:
    """A broken ~/.config/docker/daemon.json should stop the rootless start as a usage error naming it."""
    write(tmp_path / ".config/docker/daemon.json", "{not json")
    options = parse(["/usr/bin/dockerd"], {"DOCKER_TLS_CERTDIR": ""})
    with pytest.raises(UsageError, match=r"\.config/docker/daemon\.json"):
        preflight.check_inputs(rootless.dockerd_inputs(options, {"HOME": str(tmp_path)}))


def test_rootless_inputs_refuse_a_bad_tls_san(tmp_path: Path) -> None:
    """A DOCKER_TLS_SAN entry that is no SAN should stop the rootless start too, as the rootful one does."""
    env = {"DOCKER_TLS_CERTDIR": str(tmp_path / "certs"), "DOCKER_TLS_SAN": "nonsense:x"}
    options = parse(["/usr/bin/dockerd"], env)
    with pytest.raises(UsageError):
        preflight.check_inputs(rootless.dockerd_inputs(options, {"HOME": str(tmp_path)}))
