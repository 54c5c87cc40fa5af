"""cgroup parsing and decisions from fixture files: /proc/cgroups, /proc/self/cgroup, mountinfo.

proc_cgroups_hybrid and the docker_container/host_hybrid files are from this machine;
proc_cgroups_v1_comounted/self_cgroup_v1 have the layout of a systemd cgroup v1 host
(cpu,cpuacct and net_cls,net_prio share hierarchies); proc_cgroups_unmounted is a kernel
with nothing mounted on v1 yet (every hierarchy 0, memory disabled on the command line).
"""

from pathlib import Path

from docker_from_scratch.launcher import cgroups
from docker_from_scratch.launcher.cgroups import Hierarchy
from docker_from_scratch.requirements import mountinfo

FIXTURES = Path(__file__).parent / "fixtures"


def controllers(name: str) -> list[cgroups.Controller]:
    return cgroups.parse_proc_cgroups((FIXTURES / name).read_text())


def memberships(name: str) -> list[cgroups.Membership]:
    return cgroups.parse_self_cgroup((FIXTURES / name).read_text())


def table(name: str) -> list[mountinfo.Mount]:
    return mountinfo.parse((FIXTURES / name).read_text())


def test_cgroups_parse_proc_cgroups_reads_hierarchy_and_enabled() -> None:
    """Each /proc/cgroups line should give name, hierarchy id, count and the enabled flag."""
    parsed = {c.name: c for c in controllers("proc_cgroups_hybrid.txt")}
    assert parsed["memory"] == cgroups.Controller("memory", 4, 42, True)
    assert parsed["net_cls"].hierarchy == 0
    assert not {c.name: c for c in controllers("proc_cgroups_unmounted.txt")}["memory"].enabled


def test_cgroups_parse_self_cgroup_splits_controllers_and_path() -> None:
    """'5:cpu,cpuacct:/user.slice' should give id 5, both controllers and the path; '0::/x' the v2 line."""
    parsed = memberships("self_cgroup_v1.txt")
    assert cgroups.Membership(5, ("cpu", "cpuacct"), "/user.slice") in parsed
    assert memberships("self_cgroup_v2.txt") == [cgroups.Membership(0, (), "/init.scope")]


def test_cgroups_v1_hierarchies_one_per_hierarchy_id_on_this_host() -> None:
    """Hybrid host: one mount per hierarchy id in id order, hierarchy-0 controllers skipped, systemd last."""
    found = cgroups.v1_hierarchies(controllers("proc_cgroups_hybrid.txt"), memberships("self_cgroup_host_hybrid.txt"))
    assert [h.directory for h in found] == [
        "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "systemd",
    ]  # fmt: skip
    assert found[-1].options == "none,name=systemd"


def test_cgroups_v1_hierarchies_comount_shared_ids_with_links() -> None:
    """Controllers sharing a hierarchy id should become one mount with a link per controller."""
    found = cgroups.v1_hierarchies(controllers("proc_cgroups_v1_comounted.txt"), memberships("self_cgroup_v1.txt"))
    by_directory = {h.directory: h for h in found}
    assert by_directory["cpu,cpuacct"].links == ("cpu", "cpuacct")
    assert by_directory["cpu,cpuacct"].options == "cpu,cpuacct"
    assert by_directory["net_cls,net_prio"].links == ("net_cls", "net_prio")
    assert by_directory["memory"].links == ()
    assert "rdma" not in by_directory  # disabled
    assert "systemd" in by_directory


def test_cgroups_v1_hierarchies_without_ids_use_conventional_comounts() -> None:
    """Nothing on v1 yet: every enabled controller gets a mount, cpu with cpuacct, net_cls with net_prio."""
    found = cgroups.v1_hierarchies(controllers("proc_cgroups_unmounted.txt"), memberships("self_cgroup_v2.txt"))
    directories = [h.directory for h in found]
    assert directories[:2] == ["cpu,cpuacct", "net_cls,net_prio"]
    assert "memory" not in directories  # disabled
    assert {"cpuset", "pids", "devices", "freezer", "blkio"} <= set(directories)


def test_cgroups_detect_version_hybrid_in_a_container_of_this_host() -> None:
    """Read-only v1 binds plus a '0::' line should read as hybrid (used as v1)."""
    version = cgroups.detect_version(
        "/sys/fs/cgroup", table("mountinfo_docker_container.txt"), controllers("proc_cgroups_hybrid.txt"),
        memberships("self_cgroup_docker_container.txt"), {"cgroup", "cgroup2"},
    )  # fmt: skip
    assert version == "hybrid"


def test_cgroups_detect_version_v1_without_a_cgroup2_line() -> None:
    """v1 hierarchies and no '0::' line in /proc/self/cgroup should read as v1."""
    version = cgroups.detect_version(
        "/sys/fs/cgroup", [], controllers("proc_cgroups_v1_comounted.txt"), memberships("self_cgroup_v1.txt"),
        {"cgroup", "cgroup2"},
    )  # fmt: skip
    assert version == "v1"


def test_cgroups_detect_version_v2_from_a_cgroup2_mount() -> None:
    """A cgroup2 mount on /sys/fs/cgroup decides v2 whatever /proc/cgroups says."""
    line = "30 25 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw,nsdelegate"
    version = cgroups.detect_version(
        "/sys/fs/cgroup", [mountinfo.parse_line(line)], controllers("proc_cgroups_hybrid.txt"),
        memberships("self_cgroup_v2.txt"), {"cgroup", "cgroup2"},
    )  # fmt: skip
    assert version == "v2"


def test_cgroups_detect_version_bare_kernel_prefers_v2() -> None:
    """Nothing mounted and no v1 hierarchy: v2 when the kernel has cgroup2, else v1."""
    known = controllers("proc_cgroups_unmounted.txt")
    assert cgroups.detect_version("/sys/fs/cgroup", [], known, [], {"cgroup", "cgroup2"}) == "v2"
    assert cgroups.detect_version("/sys/fs/cgroup", [], known, [], {"cgroup"}) == "v1"


def test_cgroups_v1_problem_names_read_only_binds() -> None:
    """docker's read-only binds of the container's cgroup should be reported read-only."""
    own = memberships("self_cgroup_docker_container.txt")
    problem = cgroups.v1_problem("/sys/fs/cgroup", Hierarchy(("memory",)), table("mountinfo_docker_container.txt"), own)
    assert problem == "read-only"


def test_cgroups_v1_problem_accepts_writable_whole_hierarchies() -> None:
    """This host's own rw cgroup mounts (root /) should be usable as they are."""
    own = memberships("self_cgroup_host_hybrid.txt")
    entries = table("mountinfo_host_hybrid.txt")
    for hierarchy in (Hierarchy(("cpu",)), Hierarchy(("memory",)), Hierarchy(("name=systemd",))):
        assert cgroups.v1_problem("/sys/fs/cgroup", hierarchy, entries, own) is None


def test_cgroups_v1_problem_rejects_a_bind_outside_our_cgroup() -> None:
    """A writable bind of some other cgroup than ours should not count as usable."""
    line = "78 77 0:29 /docker/other /sys/fs/cgroup/cpu rw,nosuid - cgroup cgroup rw,cpu"
    own = [cgroups.Membership(1, ("cpu",), "/docker/mine")]
    problem = cgroups.v1_problem("/sys/fs/cgroup", Hierarchy(("cpu",)), [mountinfo.parse_line(line)], own)
    assert problem is not None and "outside our cgroup" in problem
    inside = [cgroups.Membership(1, ("cpu",), "/docker/other")]
    assert cgroups.v1_problem("/sys/fs/cgroup", Hierarchy(("cpu",)), [mountinfo.parse_line(line)], inside) is None


def test_cgroups_v1_problem_missing_and_wrong_controllers() -> None:
    """No mount is 'missing'; a cgroup mount of other controllers is named with its options."""
    entries = table("mountinfo_host_hybrid.txt")
    assert cgroups.v1_problem("/sys/fs/cgroup", Hierarchy(("net_cls",)), entries, []) == "missing"
    line = "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu"
    problem = cgroups.v1_problem("/sys/fs/cgroup", Hierarchy(("cpu", "cpuacct")), [mountinfo.parse_line(line)], [])
    assert problem == "mounted with rw,cpu"


def test_cgroups_own_path_matches_by_controller() -> None:
    """Our path in a co-mounted hierarchy comes from the line naming its controllers; unlisted is '/'."""
    own = memberships("self_cgroup_v1.txt")
    assert cgroups.own_path(Hierarchy(("cpu", "cpuacct")), own) == "/user.slice"
    assert cgroups.own_path(Hierarchy(("name=systemd",)), own).endswith("session-2.scope")
    assert cgroups.own_path(Hierarchy(("misc",)), own) == "/"
