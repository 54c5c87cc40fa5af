"""The shared path helpers: under a root, programs on PATH, nearest existing, /proc/filesystems."""

import os
from pathlib import Path

from docker_from_scratch.requirements.paths import (
    find_library,
    find_program,
    kernel_filesystems,
    nearest_existing,
    under,
)


def _program(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)


def test_under_joins_an_inside_path_below_the_root() -> None:
    """under() should put an absolute inside path below the root, and leave it alone for "/"."""
    assert under("/srv/root", "/etc/passwd") == "/srv/root/etc/passwd"
    assert under("/", "/etc/passwd") == "/etc/passwd"
    assert under("", "etc//passwd/") == "/etc/passwd"


def test_find_program_takes_the_first_executable_on_path(tmp_path: Path) -> None:
    """find_program should return the first executable match and skip plain files."""
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "tool").write_text("not executable")
    _program(tmp_path / "b" / "tool")
    search = f"{tmp_path}/a:{tmp_path}/b"
    assert find_program("tool", search) == f"{tmp_path}/b/tool"
    assert find_program("missing", search) is None


def test_find_program_skips_relative_path_entries(tmp_path: Path) -> None:
    """A relative or empty PATH entry should never find a program in the working directory."""
    _program(tmp_path / "tool")
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert find_program("tool", ":.:bin") is None
    finally:
        os.chdir(old)


def test_find_program_dist_rule_only_when_asked(tmp_path: Path) -> None:
    """NAME.dist should count only with dist=True, and be what is returned."""
    _program(tmp_path / "usr" / "bin" / "runc.dist")
    assert find_program("runc", "/usr/bin", root=os.fspath(tmp_path)) is None
    assert find_program("runc", "/usr/bin", root=os.fspath(tmp_path), dist=True) == "/usr/bin/runc.dist"
    assert find_program("/usr/bin/runc", root=os.fspath(tmp_path), dist=True) == "/usr/bin/runc.dist"


def test_nearest_existing_walks_up_to_what_exists(tmp_path: Path) -> None:
    """nearest_existing should return the path itself or its closest existing ancestor, inside the root."""
    (tmp_path / "var" / "lib").mkdir(parents=True)
    (tmp_path / "plain").write_text("")
    assert nearest_existing("/var/lib/docker/x", os.fspath(tmp_path)) == "/var/lib"
    assert nearest_existing("/plain/below", os.fspath(tmp_path)) == "/plain"
    assert nearest_existing("/nothing", os.fspath(tmp_path)) == "/"


def test_kernel_filesystems_reads_the_last_column(tmp_path: Path) -> None:
    """kernel_filesystems should give the type names of /proc/filesystems, nodev or not; none when unreadable."""
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "filesystems").write_text("nodev\tsysfs\nnodev\tcgroup2\n\text4\n")
    assert kernel_filesystems(os.fspath(tmp_path)) == {"sysfs", "cgroup2", "ext4"}
    assert kernel_filesystems(os.fspath(tmp_path / "none")) == set()


def test_find_library_prefers_this_machines_multiarch_directory(tmp_path: Path) -> None:
    """A soname in two multiarch directories should be found in this machine's first, then lib64."""
    machine = os.uname().machine
    for directory in ("usr/lib/aaa-linux-gnu", f"usr/lib/{machine}-linux-gnu", "usr/lib64"):
        (tmp_path / directory).mkdir(parents=True)
        (tmp_path / directory / "libdfs.so.1").write_text("ELF")
    assert find_library("libdfs.so.1", os.fspath(tmp_path)) == f"/usr/lib/{machine}-linux-gnu/libdfs.so.1"
    (tmp_path / f"usr/lib/{machine}-linux-gnu/libdfs.so.1").unlink()
    (tmp_path / "usr/lib/aaa-linux-gnu/libdfs.so.1").unlink()
    assert find_library("libdfs.so.1", os.fspath(tmp_path)) == "/usr/lib64/libdfs.so.1"
    assert find_library("libnone.so.1", os.fspath(tmp_path)) is None
