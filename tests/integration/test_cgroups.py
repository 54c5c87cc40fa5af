"""cgroup mounts made for real in throw-away namespaces (v1 on this host; v2 where cgroup2 mounts).

v1: the host's hierarchies, bind-mounted read-only under <root>/sys/fs/cgroup as docker
hands them to a container, must be replaced by fresh read-write mounts; a failure must
leave the old tree. v2: a cgroup2 mount inside a cgroup namespace rooted at a test cgroup,
so moving processes and enabling controllers touches only that test cgroup.
"""

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from docker_from_scratch.launcher import cgroups, mounts, syscalls
from docker_from_scratch.launcher.errors import LaunchError
from docker_from_scratch.requirements import mountinfo
from tests.testing.namespaces import mount_table, run_in_namespace

pytestmark = pytest.mark.integration

HOST_CGROUPS = "/sys/fs/cgroup"


def host_v1_hierarchies() -> list[str]:
    entries = mountinfo.mounts_under(HOST_CGROUPS)
    return [os.path.basename(m.mount_point) for m in entries if m.fs_type == "cgroup"]


needs_v1 = pytest.mark.skipif(not host_v1_hierarchies(), reason="the host has no cgroup v1 hierarchies mounted")


# --- scenarios (run inside the namespace) -----------------------------------------------


def bind_host_hierarchies_read_only(root: str) -> None:
    """What docker gives a container: tmpfs, and a read-only bind per hierarchy."""
    base = os.path.join(root, "sys/fs/cgroup")
    os.makedirs(base)
    syscalls.mount("tmpfs", base, "tmpfs", syscalls.MS_NOSUID, "mode=755")
    for entry in mountinfo.mounts_under(HOST_CGROUPS):
        if entry.fs_type != "cgroup":
            continue
        target = os.path.join(base, os.path.basename(entry.mount_point))
        os.mkdir(target)
        syscalls.mount(entry.mount_point, target, None, syscalls.MS_BIND)
        syscalls.mount("none", target, None, syscalls.MS_BIND | syscalls.MS_REMOUNT | syscalls.MS_RDONLY)
    os.makedirs(os.path.join(root, "run"))


def replace_read_only_binds(root: str) -> list[Any]:
    bind_host_hierarchies_read_only(root)
    before = mount_table(root)
    version = cgroups.mount_cgroups(root)
    first = mount_table(root)
    cgroups.mount_cgroups(root)
    base = os.path.join(root, "sys/fs/cgroup")
    probe = os.path.join(base, "pids", f"dfs-probe-{os.getpid()}")
    os.mkdir(probe)  # writable for real: a nested dockerd creates its cgroups like this
    os.rmdir(probe)
    return [before, first, mount_table(root), version, sorted(os.listdir(base)), os.listdir(os.path.join(root, "run"))]


def fresh_on_empty_root(root: str) -> list[Any]:
    cgroups.mount_cgroups(root)
    first = mount_table(root)
    cgroups.mount_cgroups(root)
    return [first, mount_table(root)]


def failing_hierarchy(root: str, proc_cgroups: str, prepare: bool) -> list[Any]:
    if prepare:
        bind_host_hierarchies_read_only(root)
    before = mount_table(root)
    try:
        cgroups.mount_cgroups(root, proc_cgroups=proc_cgroups)
        message = None
    except LaunchError as exc:
        message = exc.one_line()
    run_dir = os.path.join(root, "run")
    leftovers = os.listdir(run_dir) if os.path.isdir(run_dir) else []
    return [before, mount_table(root), message, leftovers]


def add_missing_on_writable_tmpfs(root: str) -> list[Any]:
    base = os.path.join(root, "sys/fs/cgroup")
    os.makedirs(os.path.join(base, "pids"))
    syscalls.mount("tmpfs", base, "tmpfs", 0, "mode=755")
    os.mkdir(os.path.join(base, "pids"))
    syscalls.mount("cgroup", os.path.join(base, "pids"), "cgroup", 0, "pids")
    before = mount_table(root)
    cgroups.mount_cgroups(root)
    return [before, mount_table(root)]


def v2_delegate(root: str, read_only: bool) -> list[Any]:
    base = os.path.join(root, "sys/fs/cgroup")
    if read_only:
        os.makedirs(base)
        syscalls.mount("cgroup2", base, "cgroup2", syscalls.MS_RDONLY)
    sleeper = subprocess.Popen(["sleep", "60"])  # a second process in the root cgroup
    try:
        cgroups.mount_cgroups(root, version="v2")
        first = mount_table(root)
        files = {}
        for name in ("cgroup.procs", "cgroup.controllers", "cgroup.subtree_control", "init/cgroup.procs"):
            with open(os.path.join(base, name)) as handle:
                files[name] = handle.read().split()
        cgroups.mount_cgroups(root, version="v2")
        return [first, mount_table(root), files, [os.getpid(), sleeper.pid]]
    finally:
        sleeper.kill()
        sleeper.wait()


# --- v1 ----------------------------------------------------------------------------------


def visible_cgroup_mounts(table: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["path"]: m for m in table if m["visible"] and m["fs_type"] == "cgroup"}


@needs_v1
def test_cgroups_v1_read_only_binds_replaced_by_fresh_mounts() -> None:
    """docker's read-only binds should give way to one rw cgroup mount per hierarchy; none stays behind."""
    run = run_in_namespace(replace_read_only_binds)
    assert run.error is None, run.log
    before, first, _second, version, listing, run_dir = run.value
    assert version in ("v1", "hybrid")
    old = visible_cgroup_mounts(before)
    new = visible_cgroup_mounts(first)
    assert old and all(m["ro"] for m in old.values())
    assert set(new) == set(old)
    assert not any(m["ro"] for m in first if m["fs_type"] == "cgroup"), "a read-only cgroup entry survived"
    assert [m["path"] for m in first if m["path"] == "/sys/fs/cgroup"] == ["/sys/fs/cgroup"]
    assert set(listing) == {os.path.basename(path) for path in new}
    assert run_dir == [], "the staging directory should be gone"


@needs_v1
def test_cgroups_v1_second_run_mounts_nothing() -> None:
    """After the replacement a second run should find every hierarchy usable and change nothing."""
    run = run_in_namespace(replace_read_only_binds)
    assert run.error is None, run.log
    first, second = run.value[1], run.value[2]
    assert second == first
    assert run.log.count("already a usable cgroup mount, skipped") == len(visible_cgroup_mounts(first))


@needs_v1
def test_cgroups_v1_mounts_are_rooted_at_our_own_cgroup() -> None:
    """Each fresh hierarchy should show our own cgroup as its root, as docker --privileged does."""
    run = run_in_namespace(replace_read_only_binds)
    assert run.error is None, run.log
    ours = cgroups.parse_self_cgroup(Path("/proc/self/cgroup").read_text())
    for path, entry in visible_cgroup_mounts(run.value[1]).items():
        hierarchy = cgroups.Hierarchy(tuple(o for o in entry["super_options"] if o != "rw"))
        # The child runs in the test's cgroups (unshare keeps them): same paths as ours.
        assert entry["root"] == cgroups.own_path(hierarchy, ours), path


@needs_v1
def test_cgroups_v1_fresh_tree_on_an_empty_root() -> None:
    """With nothing under /sys/fs/cgroup a tmpfs and every hierarchy should be mounted, once."""
    run = run_in_namespace(fresh_on_empty_root)
    assert run.error is None, run.log
    first, second = run.value
    assert "/sys/fs/cgroup" in [m["path"] for m in first if m["fs_type"] == "tmpfs"]
    assert set(visible_cgroup_mounts(first)) == {f"/sys/fs/cgroup/{name}" for name in host_v1_hierarchies()}
    assert second == first


@needs_v1
@pytest.mark.parametrize("prepare", [True, False], ids=["over-read-only-binds", "on-empty-root"])
def test_cgroups_v1_failure_leaves_the_table_as_it_was(tmp_path: Path, prepare: bool) -> None:
    """An unknown controller makes a mount fail: the error names it and its errno, the table is unchanged."""
    proc_cgroups = tmp_path / "cgroups"
    proc_cgroups.write_text(Path("/proc/cgroups").read_text() + "dfs_no_such_controller\t99\t1\t1\n")
    run = run_in_namespace(failing_hierarchy, str(proc_cgroups), prepare)
    assert run.error is None, run.log
    before, after, message, leftovers = run.value
    assert message is not None and "dfs_no_such_controller" in message and "(E" in message
    assert after == before
    assert leftovers == []


@needs_v1
def test_cgroups_v1_missing_hierarchies_added_beside_usable_ones() -> None:
    """A writable tmpfs with a usable pids mount keeps it; the other hierarchies are added next to it."""
    run = run_in_namespace(add_missing_on_writable_tmpfs)
    assert run.error is None, run.log
    before, after = run.value
    pids_before = visible_cgroup_mounts(before)["/sys/fs/cgroup/pids"]
    assert visible_cgroup_mounts(after)["/sys/fs/cgroup/pids"]["id"] == pids_before["id"]
    assert len(visible_cgroup_mounts(after)) == len(host_v1_hierarchies())


# --- v2 ----------------------------------------------------------------------------------


def cgroup2_mount_point() -> str | None:
    for entry in mountinfo.visible(mountinfo.read()):
        if entry.fs_type == "cgroup2":
            return entry.mount_point
    return None


@pytest.fixture
def test_cgroup() -> Iterator[str]:
    """A fresh child of our cgroup2 cgroup, with the controllers its parent can hand down.

    Where the parent is the hierarchy's root (this host), its available controllers are
    enabled for the test and disabled again afterwards if they were not before.
    """
    mount_point = cgroup2_mount_point()
    if mount_point is None or shutil.which("unshare") is None:
        pytest.skip("no cgroup2 hierarchy mounted on this host")
    own = next(m.path for m in cgroups.parse_self_cgroup(Path("/proc/self/cgroup").read_text()) if m.hierarchy == 0)
    parent = os.path.normpath(mount_point + own)
    enabled_here: list[str] = []
    if own == "/":
        control = Path(parent, "cgroup.subtree_control")
        missing = set(Path(parent, "cgroup.controllers").read_text().split()) - set(control.read_text().split())
        for name in sorted(missing):
            try:
                control.write_text(f"+{name}")
                enabled_here.append(name)
            except OSError:
                pass
    path = os.path.join(parent, f"dfs-test-{uuid.uuid4().hex[:8]}")
    os.mkdir(path)
    try:
        yield path
    finally:
        for child in (os.path.join(path, "init"), path):
            if os.path.isdir(child):
                os.rmdir(child)
        for name in enabled_here:
            Path(parent, "cgroup.subtree_control").write_text(f"-{name}")


@pytest.mark.parametrize("read_only", [False, True], ids=["empty-root", "read-only-cgroup2"])
def test_cgroups_v2_processes_move_to_init_and_controllers_are_delegated(test_cgroup: str, read_only: bool) -> None:
    """Every process of the namespace's root cgroup should land in init/, all controllers enabled, once."""
    run = run_in_namespace(v2_delegate, read_only, cgroup=test_cgroup)
    assert run.error is None, run.log
    first, second, files, pids = run.value
    top = [m for m in first if m["path"] == "/sys/fs/cgroup" and m["visible"]]
    assert len(top) == 1 and top[0]["fs_type"] == "cgroup2" and not top[0]["ro"]
    assert files["cgroup.procs"] == []
    assert sorted(int(pid) for pid in files["init/cgroup.procs"]) == sorted(pids)
    assert sorted(files["cgroup.subtree_control"]) == sorted(files["cgroup.controllers"])
    assert second == first
    assert "controllers already delegated" in run.log


def test_cgroups_v2_refuses_to_stack_on_a_v1_tree(test_cgroup: str) -> None:
    """Forcing v2 where a v1 tree is mounted should fail with a hint rather than hide it."""
    run = run_in_namespace(v2_over_v1, cgroup=test_cgroup)
    assert run.error is not None and "cannot mount cgroup2 there" in run.error


def v2_over_v1(root: str) -> None:
    base = os.path.join(root, "sys/fs/cgroup")
    os.makedirs(os.path.join(base, "pids"))
    syscalls.mount("tmpfs", base, "tmpfs")
    mounts.make_directory(os.path.join(base, "pids"))
    syscalls.mount("tmpfs", os.path.join(base, "pids"), "tmpfs")
    cgroups.mount_cgroups(root, version="v2")
