"""Layout and default files on a temporary root: created where missing, never overwritten."""

import os
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from docker_from_scratch.launcher import files
from docker_from_scratch.launcher.errors import LaunchError
from tests.testing.procs import sleep_until


def tree(root: Path) -> dict[str, tuple[int, str]]:
    """Every path below root with its mode and (for files/links) content or target."""
    found: dict[str, tuple[int, str]] = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        if path.is_symlink():
            detail = os.readlink(path)
        elif path.is_file():
            detail = path.read_text()
        else:
            detail = ""
        found[str(path.relative_to(root))] = (info.st_mode, detail)
    return found


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_files_layout_creates_directories_with_modes(tmp_path: Path) -> None:
    """/tmp 1777, /root/.ssh 0700, /var and the data root should exist afterwards."""
    files.make_layout(str(tmp_path), data_root="/srv/docker")
    assert mode(tmp_path / "tmp") == 0o1777
    assert mode(tmp_path / "root" / ".ssh") == 0o700
    assert (tmp_path / "var").is_dir() and (tmp_path / "srv" / "docker").is_dir()


def test_files_layout_links_lib_and_sbin_only_where_missing(tmp_path: Path) -> None:
    """/lib -> usr/lib is made where /lib is missing; an existing /sbin directory stays."""
    (tmp_path / "usr" / "lib").mkdir(parents=True)
    (tmp_path / "usr" / "sbin").mkdir(parents=True)
    (tmp_path / "sbin").mkdir()
    files.make_layout(str(tmp_path))
    assert os.readlink(tmp_path / "lib") == "usr/lib"
    assert (tmp_path / "sbin").is_dir() and not (tmp_path / "sbin").is_symlink()


def test_files_layout_leaves_existing_modes_alone(tmp_path: Path) -> None:
    """An existing /tmp keeps its mode: the step creates, it does not correct."""
    (tmp_path / "tmp").mkdir(mode=0o755)
    os.chmod(tmp_path / "tmp", 0o755)
    files.make_layout(str(tmp_path))
    assert mode(tmp_path / "tmp") == 0o755


def test_files_copy_defaults_never_clobbers(tmp_path: Path) -> None:
    """A distro's /etc/passwd stays; missing files (also below existing dirs) and links arrive."""
    usr_etc = tmp_path / "usr" / "etc"
    (usr_etc / "ssl" / "certs").mkdir(parents=True)
    (usr_etc / "passwd").write_text("root:x:0:0:default:/root:/bin/sh\n")
    (usr_etc / "ssl" / "certs" / "ca-certificates.crt").write_text("BUNDLE\n")
    (usr_etc / "mtab").symlink_to("/proc/self/mounts")
    etc = tmp_path / "etc"
    (etc / "ssl").mkdir(parents=True)
    (etc / "passwd").write_text("root:x:0:0:distro:/root:/bin/bash\n")
    created = files.copy_defaults(str(tmp_path))
    assert (etc / "passwd").read_text() == "root:x:0:0:distro:/root:/bin/bash\n"
    assert (etc / "ssl" / "certs" / "ca-certificates.crt").read_text() == "BUNDLE\n"
    assert os.readlink(etc / "mtab") == "/proc/self/mounts"
    assert str(etc / "passwd") not in created
    assert files.copy_defaults(str(tmp_path)) == []


def test_files_default_files_only_where_missing(tmp_path: Path) -> None:
    """passwd/group/hosts/resolv.conf are written where missing; an existing hosts stays."""
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "hosts").write_text("10.0.0.1 mine\n")
    created = files.write_default_files(str(tmp_path))
    assert sorted(os.path.basename(p) for p in created) == ["group", "passwd", "resolv.conf"]
    assert (tmp_path / "etc" / "hosts").read_text() == "10.0.0.1 mine\n"
    assert (tmp_path / "etc" / "passwd").read_text().startswith("root:x:0:0:")
    assert files.write_default_files(str(tmp_path)) == []


def test_files_default_resolv_conf_stays_on_this_machine(tmp_path: Path) -> None:
    """The fallback resolv.conf names no nameserver beyond loopback."""
    files.write_default_files(str(tmp_path))
    servers = [line.split()[1] for line in (tmp_path / "etc" / "resolv.conf").read_text().splitlines()
               if line.startswith("nameserver")]  # fmt: skip
    assert servers and all(server.startswith("127.") or server == "::1" for server in servers)


@pytest.mark.parametrize("content", [None, "", "\n"])
def test_files_daemon_config_written_when_missing_or_truncated(tmp_path: Path, content: str | None) -> None:
    """--config-file naming a missing, empty or one-byte file should end up holding {}."""
    config = tmp_path / "etc" / "docker" / "custom.json"
    if content is not None:
        config.parent.mkdir(parents=True)
        config.write_text(content)
    assert files.ensure_daemon_config("/etc/docker/custom.json", str(tmp_path))
    assert config.read_text() == "{}\n"


def test_files_daemon_config_keeps_content(tmp_path: Path) -> None:
    """An existing config with settings is never touched; no --config-file means nothing to do."""
    config = tmp_path / "daemon.json"
    config.write_text('{"debug": true}')
    assert not files.ensure_daemon_config("/daemon.json", str(tmp_path))
    assert config.read_text() == '{"debug": true}'
    assert not files.ensure_daemon_config(None, str(tmp_path))


def test_files_remove_broken_json_only_tiny_files(tmp_path: Path) -> None:
    """0- and 1-byte key.json/daemon.json/repositories.json go; a 2-byte {} stays."""
    docker_etc = tmp_path / "etc" / "docker"
    docker_etc.mkdir(parents=True)
    (docker_etc / "key.json").write_text("")
    (docker_etc / "daemon.json").write_text("{}")
    image = tmp_path / "var" / "lib" / "docker" / "image"
    (image / "overlay2").mkdir(parents=True)
    (image / "overlay2" / "repositories.json").write_text("{")
    (image / "vfs").mkdir()
    (image / "vfs" / "repositories.json").write_text('{"Repositories":{}}')
    removed = files.remove_broken_json(str(tmp_path))
    assert sorted(os.path.relpath(p, tmp_path) for p in removed) == [
        "etc/docker/key.json", "var/lib/docker/image/overlay2/repositories.json",
    ]  # fmt: skip
    assert (docker_etc / "daemon.json").exists() and (image / "vfs" / "repositories.json").exists()


def test_files_stale_pidfiles_removed_case_insensitively(tmp_path: Path) -> None:
    """docker*.pid below /run (any case, nested) goes, also through /var/run -> ../run; others stay."""
    run = tmp_path / "run"
    (run / "docker" / "containerd").mkdir(parents=True)
    (run / "docker.pid").write_text("999999999")
    (run / "Docker-Containerd.PID").write_text("garbage")
    (run / "docker" / "containerd" / "docker-containerd.pid").write_text("")
    (run / "sshd.pid").write_text("1")
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "run").symlink_to("../run")
    removed = files.remove_stale_pidfiles(str(tmp_path))
    assert len(removed) == 3
    assert (run / "sshd.pid").exists() and not (run / "docker.pid").exists()


@contextmanager
def running_as(tmp_path: Path, name: str) -> Iterator[int]:
    """A live process whose /proc comm is ``name`` (a copy of sleep); yields its pid."""
    program = tmp_path / name
    program.write_bytes(Path("/bin/sleep").read_bytes())
    program.chmod(0o755)
    process = subprocess.Popen([str(program), "30"])
    # With vfork, Popen returns once the child's exec has swapped its memory, a moment
    # before the kernel renames it: wait until /proc shows the new name.
    comm = Path(f"/proc/{process.pid}/comm")
    assert sleep_until(lambda: comm.read_text().strip() == name, timeout=5)
    try:
        yield process.pid
    finally:
        process.kill()
        process.wait()


def test_files_pidfile_of_a_running_dockerd_is_kept(tmp_path: Path) -> None:
    """A docker.pid naming a live process called dockerd is no stale file."""
    with running_as(tmp_path, "dockerd") as pid:
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / "docker.pid").write_text(str(pid))
        assert files.remove_stale_pidfiles(str(tmp_path)) == []
        assert (tmp_path / "run" / "docker.pid").exists()


def test_files_pidfile_naming_a_docker_client_is_stale(tmp_path: Path) -> None:
    """A docker.pid whose number now belongs to a docker CLI (a CI job's exec) is removed."""
    with running_as(tmp_path, "docker") as pid:
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / "docker.pid").write_text(str(pid))
        assert files.remove_stale_pidfiles(str(tmp_path)) == [str(tmp_path / "run" / "docker.pid")]


def test_files_dist_fallback_links_missing_programs(tmp_path: Path) -> None:
    """iptables missing but iptables.dist present: iptables -> iptables.dist; present ones untouched."""
    sbin = tmp_path / "usr" / "sbin"
    sbin.mkdir(parents=True)
    (sbin / "iptables.dist").write_text("#!/bin/sh\n")
    (sbin / "modprobe").write_text("#!/bin/sh\n")
    (sbin / "modprobe.dist").write_text("#!/bin/sh\n")
    made = files.link_dist_fallbacks(["iptables", "modprobe", "runc"], "/usr/sbin", str(tmp_path))
    assert made == [str(sbin / "iptables")]
    assert os.readlink(sbin / "iptables") == "iptables.dist"
    assert not (sbin / "modprobe").is_symlink()
    assert files.link_dist_fallbacks(["iptables"], "/usr/sbin", str(tmp_path)) == []


def test_files_dist_fallback_for_an_absolute_program(tmp_path: Path) -> None:
    """An absolute DOCKER_BINARY missing but with a .dist twin is linked in place."""
    (tmp_path / "usr" / "bin").mkdir(parents=True)
    (tmp_path / "usr" / "bin" / "dockerd.dist").write_text("")
    assert files.link_dist_fallbacks(["/usr/bin/dockerd"], "", str(tmp_path)) == [str(tmp_path / "usr/bin/dockerd")]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/usr/bin:/bin", "/usr/bin:/bin:/usr/sbin:/sbin"),
        ("/sbin:/usr/bin", "/sbin:/usr/bin:/usr/sbin"),
        ("", "/usr/sbin:/sbin"),
        ("/usr/sbin:/usr/bin:/sbin", "/usr/sbin:/usr/bin:/sbin"),
    ],
)
def test_files_extend_path_appends_sbin_once(given: str, expected: str) -> None:
    """/usr/sbin and /sbin are appended when missing, order of the rest kept."""
    assert files.extend_path(given) == expected


def test_files_prepare_layout_twice_changes_nothing_the_second_time(tmp_path: Path) -> None:
    """The whole step on an empty root, run again, should leave the tree exactly as it was."""
    (tmp_path / "usr" / "etc").mkdir(parents=True)
    (tmp_path / "usr" / "etc" / "gitconfig").write_text("[user]\n")
    files.prepare_layout(str(tmp_path), config_file="/etc/docker/daemon.json", search_path="/usr/bin")
    first = tree(tmp_path)
    files.prepare_layout(str(tmp_path), config_file="/etc/docker/daemon.json", search_path="/usr/bin")
    assert tree(tmp_path) == first
    assert (tmp_path / "etc" / "gitconfig").exists() and (tmp_path / "etc" / "docker" / "daemon.json").exists()


def test_files_directory_blocked_by_a_file_names_it(tmp_path: Path) -> None:
    """A file where /var must be a directory should fail with a one-line error naming it."""
    (tmp_path / "var").write_text("")
    with pytest.raises(LaunchError, match=r"/var exists and is not a directory"):
        files.make_layout(str(tmp_path))
