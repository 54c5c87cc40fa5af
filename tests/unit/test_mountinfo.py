"""mountinfo parsing and the visibility rules the mount steps decide by (fixture files).

Fixtures are real tables: this host (hybrid cgroups), a container of the host engine
started with privileged_flags() (read-only /sys, read-only cgroup binds) and a private
namespace with stacked and covered mounts.
"""

from pathlib import Path

import pytest

from docker_from_scratch.requirements import mountinfo

FIXTURES = Path(__file__).parent / "fixtures"


def table(name: str) -> list[mountinfo.Mount]:
    return mountinfo.parse((FIXTURES / name).read_text())


def test_mountinfo_parse_reads_every_field() -> None:
    """A container's cgroup bind should parse into ids, root, options, propagation, fs and super options."""
    entries = table("mountinfo_docker_container.txt")
    root = entries[0]
    assert (root.mount_point, root.fs_type, root.propagation) == ("/", "overlay", ("master:2",))
    cpu = mountinfo.find("/sys/fs/cgroup/cpu", entries)
    assert cpu is not None
    assert cpu.fs_type == "cgroup" and cpu.source == "cgroup"
    assert cpu.root.startswith("/docker/") and cpu.read_only
    assert cpu.super_options == ("rw", "cpu")
    assert cpu.options[:2] == ("ro", "nosuid")


def test_mountinfo_parse_decodes_octal_escapes() -> None:
    """\\040 in a mount point should come back as a space."""
    entries = table("mountinfo_stacked.txt")
    assert "/tmp/stk/dir with space" in [entry.mount_point for entry in entries]
    assert mountinfo.unescape(r"a\134b\011c") == "a\\b\tc"


def test_mountinfo_parse_rejects_line_without_separator() -> None:
    """A line without the ' - ' separator should raise ValueError, not parse garbage."""
    with pytest.raises(ValueError):
        mountinfo.parse_line("36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 ext3 /dev/root rw")


def test_mountinfo_read_only_looks_at_the_per_mount_flag() -> None:
    """docker's /sys is read-only per mount and per superblock; /dev is writable."""
    entries = table("mountinfo_docker_container.txt")
    sys = mountinfo.find("/sys", entries)
    dev = mountinfo.find("/dev", entries)
    assert sys is not None and sys.read_only and "ro" in sys.super_options
    assert dev is not None and not dev.read_only


def test_mountinfo_shared_follows_propagation_tags() -> None:
    """Only an entry tagged shared:N should count as shared (master:N alone is a slave)."""
    entries = table("mountinfo_stacked.txt")
    shared = [entry.mount_point for entry in entries if entry.shared]
    assert shared == ["/tmp/stk/dir with space"]
    assert not table("mountinfo_docker_container.txt")[0].shared


def test_mountinfo_visible_hides_stacked_and_covered_mounts() -> None:
    """A mount under a stacked one, the one stacked on, and a mount under a later parent-path mount are hidden."""
    entries = table("mountinfo_stacked.txt")
    shown = [entry.mount_id for entry in mountinfo.visible(entries)]
    # 66 ro sysfs has 69 stacked on it; 67/68 lived on 66; 71 (other/deep) is under 72 (other).
    assert shown == [65, 69, 70, 72]


def test_mountinfo_find_returns_the_top_of_a_stack() -> None:
    """On this host /dev/shm carries two tmpfs: find should return the later, visible one."""
    entries = table("mountinfo_host_hybrid.txt")
    shm = mountinfo.find("/dev/shm", entries)
    assert shm is not None and shm.mount_id == 30


def test_mountinfo_find_ignores_hidden_entries() -> None:
    """The covered read-only cgroup mount should not be found: only what a path resolves to counts."""
    entries = table("mountinfo_stacked.txt")
    assert mountinfo.find("/tmp/stk/sys/fs/cgroup/cpu", entries) is None
    top = mountinfo.find("/tmp/stk/sys", entries)
    assert top is not None and top.fs_type == "tmpfs"


def test_mountinfo_mounts_under_matches_whole_path_components() -> None:
    """mounts_under('/sys/fs/cgroup') should list the cgroup tree and nothing beside it."""
    entries = table("mountinfo_host_hybrid.txt")
    under = [entry.mount_point for entry in mountinfo.mounts_under("/sys/fs/cgroup", entries)]
    assert under[0] == "/sys/fs/cgroup"
    assert "/sys/fs/cgroup/unified" in under and "/sys/fs/cgroup/systemd" in under
    assert all(point == "/sys/fs/cgroup" or point.startswith("/sys/fs/cgroup/") for point in under)
    assert mountinfo.mounts_under("/sys/fs/cg", entries) == []


def test_mountinfo_is_mountpoint_and_containing() -> None:
    """/dev/pts is a mount point, /dev/pts/0 is not and lives on the devpts."""
    entries = table("mountinfo_host_hybrid.txt")
    assert mountinfo.is_mountpoint("/dev/pts", entries)
    assert not mountinfo.is_mountpoint("/dev/pts/0", entries)
    holder = mountinfo.containing("/dev/pts/0", entries)
    assert holder is not None and holder.fs_type == "devpts" and holder.mount_id == 29


def test_mountinfo_read_parses_the_live_table() -> None:
    """The process's own table should parse, with exactly one visible root."""
    entries = mountinfo.read()
    roots = [entry for entry in mountinfo.visible(entries) if entry.mount_point == "/"]
    assert len(roots) == 1
