"""The shared-library closure, read from real ELF files of this (Debian amd64) host."""

import os
import platform
from pathlib import Path

import pytest

from docker_from_scratch.builder.elf import Closure, elf_machine_of, read_elf
from docker_from_scratch.builder.errors import BuildError
from docker_from_scratch.builder.tree import Entry, FileTree, usr_merged

TRIPLET_DIR = "/usr/lib/x86_64-linux-gnu"
pytestmark = pytest.mark.skipif(
    platform.machine() != "x86_64" or not Path(TRIPLET_DIR).is_dir(), reason="needs a Debian amd64 host"
)


def host_entry(path: str) -> Entry | None:
    """The host file at ``path`` as a tree entry (merged into /usr like an unpacked package)."""
    if os.path.islink(path):
        target = os.readlink(path)
        merged = usr_merged(target) if target.startswith("/") else target
        return Entry(usr_merged(path), "symlink", 0o777, target=merged)
    if os.path.isfile(path):
        return Entry(usr_merged(path), "file", 0o755, source=Path(path))
    return None


def host_tree(*programs: str, skip: tuple[str, ...] = ()) -> FileTree:
    """The programs plus every file directly in the host's library dirs (and xtables/)."""
    paths = list(programs)
    for directory in (TRIPLET_DIR, f"{TRIPLET_DIR}/xtables", "/usr/lib64"):
        if os.path.isdir(directory):
            paths += [os.path.join(directory, name) for name in os.listdir(directory)]
    entries = [host_entry(p) for p in paths if os.path.basename(p) not in skip]
    return FileTree(e for e in entries if e is not None)


def test_closure_of_xz_has_loader_libc_and_liblzma() -> None:
    """xz's closure should hold its DT_NEEDED libraries (with soname links) and the loader."""
    closure = Closure(host_tree("/usr/bin/xz"), "amd64")
    closure.add_with_libraries("/usr/bin/xz", "test", "tools")
    paths = set(closure.reasons)
    assert f"{TRIPLET_DIR}/liblzma.so.5" in paths
    assert f"{TRIPLET_DIR}/libc.so.6" in paths
    assert "/usr/lib64/ld-linux-x86-64.so.2" in paths  # the PT_INTERP link itself
    assert f"{TRIPLET_DIR}/ld-linux-x86-64.so.2" in paths
    assert closure.components["/usr/bin/xz"] == "tools"
    assert closure.components[f"{TRIPLET_DIR}/libc.so.6"] == "libraries"
    assert not any("libcrypto" in p for p in paths)


def test_closure_adds_only_the_dlopened_xtables_extensions_docker_uses() -> None:
    """iptables' closure should include libxt_addrtype/conntrack and not unused ones like LOG."""
    closure = Closure(host_tree("/usr/sbin/xtables-nft-multi"), "amd64")
    closure.add_with_libraries("/usr/sbin/xtables-nft-multi", "test", "tools")
    assert f"{TRIPLET_DIR}/xtables/libxt_addrtype.so" in closure.reasons
    assert f"{TRIPLET_DIR}/xtables/libxt_conntrack.so" in closure.reasons
    assert f"{TRIPLET_DIR}/xtables/libxt_LOG.so" not in closure.reasons
    assert closure.components[f"{TRIPLET_DIR}/xtables/libxt_addrtype.so"] == "tools"


def test_closure_names_a_library_no_package_provides() -> None:
    """A DT_NEEDED name missing from the tree should fail naming the library and the file."""
    closure = Closure(host_tree("/usr/bin/xz", skip=("liblzma.so.5",)), "amd64")
    with pytest.raises(BuildError, match=r"/usr/bin/xz needs liblzma\.so\.5"):
        closure.add_with_libraries("/usr/bin/xz", "test", "tools")


def test_closure_rejects_a_binary_of_another_architecture() -> None:
    """An amd64 ELF in an arm64 closure should fail naming both machines."""
    closure = Closure(host_tree("/usr/bin/xz"), "arm64")
    with pytest.raises(BuildError, match="EM_X86_64, not EM_AARCH64"):
        closure.add_with_libraries("/usr/bin/xz", "test", "tools")


def test_read_elf_reports_interpreter_and_needed() -> None:
    """read_elf should return PT_INTERP and DT_NEEDED as the headers say."""
    with open("/usr/bin/xz", "rb") as handle:
        info = read_elf(handle)
    assert info.machine == "EM_X86_64"
    assert info.interp == "/lib64/ld-linux-x86-64.so.2"
    assert "liblzma.so.5" in info.needed and "libc.so.6" in info.needed


def test_elf_machine_of_a_script_is_none(tmp_path: Path) -> None:
    """A shell script is not ELF: no machine."""
    script = tmp_path / "s"
    script.write_text("#!/bin/sh\n")
    assert elf_machine_of(script) is None
