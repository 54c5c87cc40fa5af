"""API file systems and propagation, mounted for real on a tmpfs root in throw-away namespaces.

Each scenario below runs inside `unshare --mount --pid --fork --propagation private`
(tests/testing/namespaces.py) and returns mount tables read from /proc/self/mountinfo.
"""

import os
import stat
from collections.abc import Iterator
from typing import Any

import pytest

from docker_from_scratch.launcher import mounts, syscalls
from docker_from_scratch.launcher.errors import LaunchError
from tests.testing.namespaces import mount_table, paths, run_in_namespace

pytestmark = pytest.mark.integration

EXPECTED = {
    "/proc": "proc",
    "/dev": "devtmpfs",
    "/dev/pts": "devpts",
    "/dev/shm": "tmpfs",
    "/dev/mqueue": "mqueue",
    "/run": "tmpfs",
    "/sys": "sysfs",
    "/tmp": "tmpfs",
}


@pytest.fixture(autouse=True)
def host_dev_left_as_found() -> Iterator[None]:
    """devtmpfs mounted in a namespace is the host's /dev superblock: directories the step
    creates there (mqueue on this host) are removed again."""
    before = set(os.listdir("/dev"))
    yield
    for name in set(os.listdir("/dev")) - before:
        path = os.path.join("/dev", name)
        if name in ("mqueue", "shm", "pts") and os.path.isdir(path) and not os.path.ismount(path):
            os.rmdir(path)


# --- scenarios (run inside the namespace) -----------------------------------------------


def api_twice(root: str) -> list[Any]:
    mounts.mount_api_filesystems(root)
    first = mount_table(root)
    ptmx = os.readlink(os.path.join(root, "dev/ptmx")) if os.path.islink(os.path.join(root, "dev/ptmx")) else "node"
    var_run = os.readlink(os.path.join(root, "var/run"))
    mounts.mount_api_filesystems(root)
    return [first, mount_table(root), ptmx, var_run]


def api_failure_on_read_only_var(root: str) -> list[Any]:
    var = os.path.join(root, "var")
    os.mkdir(var)
    syscalls.mount("tmpfs", var, "tmpfs", syscalls.MS_RDONLY)
    before = mount_table(root)
    try:
        mounts.mount_api_filesystems(root)
        message = None
    except LaunchError as exc:
        message = exc.one_line()
    return [before, mount_table(root), message]


def api_with_docker_like_dev_and_full_tmp(root: str) -> list[Any]:
    dev = os.path.join(root, "dev")
    os.mkdir(dev)
    syscalls.mount("tmpfs", dev, "tmpfs", syscalls.MS_NOSUID, "mode=755")
    os.mknod(os.path.join(dev, "null"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.makedirs(os.path.join(root, "tmp", "keep"))
    mounts.mount_api_filesystems(root)
    return [mount_table(root), os.listdir(os.path.join(root, "tmp"))]


def api_on_read_only_sysfs(root: str) -> list[Any]:
    target = os.path.join(root, "sys")
    os.mkdir(target)
    syscalls.mount("sysfs", target, "sysfs", syscalls.MS_RDONLY | syscalls.MS_NOSUID)
    before = mount_table(root)
    mounts.mount_api_filesystems(root)
    writable = os.access(os.path.join(target, "class/net/lo/mtu"), os.W_OK)
    with open(os.path.join(target, "class/net/lo/mtu"), "w") as handle:
        handle.write("65536")
    return [before, mount_table(root), writable]


def rshared_twice(root: str) -> list[Any]:
    os.mkdir(os.path.join(root, "sub"))
    syscalls.mount("tmpfs", os.path.join(root, "sub"), "tmpfs")
    before = mount_table(root)
    mounts.make_root_rshared(root)
    first = mount_table(root)
    mounts.make_root_rshared(root)
    return [before, first, mount_table(root)]


def api_with_shared_var_run(root: str, layout: str) -> list[Any]:
    """A pod's emptyDir shared on /var/run, with a sidecar's group-accessible socket in it.

    ``image``: our image's /var/run -> ../run link, which the runtime follows, so the
    emptyDir lands on /run. ``directory``: a distribution's real /var/run directory (files.tar
    embedded), where the emptyDir is mounted on /var/run itself; an empty one, as at start.
    """
    import socket

    os.makedirs(os.path.join(root, "var"))
    if layout == "image":
        os.symlink("../run", os.path.join(root, "var/run"))
        shared = os.path.join(root, "run")
    else:
        shared = os.path.join(root, "var/run")
    os.mkdir(shared)
    syscalls.mount("tmpfs", shared, "tmpfs", syscalls.MS_NOSUID | syscalls.MS_NODEV, "mode=0777")
    sock_path = ""
    if layout == "image":  # what the runner would find after dockerd started: the socket
        sock_path = os.path.join(shared, "docker.sock")
        server = socket.socket(socket.AF_UNIX)
        server.bind(sock_path)
        os.chown(sock_path, 0, 123)
        os.chmod(sock_path, 0o660)
    before = by_path(mount_table(root))[shared.removeprefix(root) or "/"]
    mounts.mount_api_filesystems(root)
    table = by_path(mount_table(root))
    after = table[shared.removeprefix(root)]
    var_run = os.path.join(root, "var/run")
    sock = os.stat(sock_path) if sock_path else None
    return [
        before["id"], after["id"], os.path.islink(var_run), os.listdir(shared),
        [sock.st_gid, stat.S_IMODE(sock.st_mode)] if sock else None,
        os.stat(shared).st_mode & 0o777,
    ]  # fmt: skip


# MS_UNBINDABLE (<linux/mount.h>): a bind of such a mount fails with EINVAL. The scenario
# uses it to make replace_tree's final bind fail for real, after the old tree is gone.
MS_UNBINDABLE = 1 << 17


def replace_tree_final_bind_fails(root: str) -> list[Any]:
    """An old tree like docker's (tmpfs, a read-only mount inside), then a replacement
    whose final bind the kernel refuses."""
    base = os.path.join(root, "sys/fs/cgroup")
    os.makedirs(base)
    os.makedirs(os.path.join(root, "run"))
    syscalls.mount("tmpfs", base, "tmpfs", syscalls.MS_NOSUID, "mode=755")
    with open(os.path.join(base, "old-marker"), "w") as marker:
        marker.write("old\n")
    os.mkdir(os.path.join(base, "pids"))
    syscalls.mount("tmpfs", os.path.join(base, "pids"), "tmpfs", syscalls.MS_RDONLY)
    before = mount_table(root, visible_only=True)

    def build_unbindable(stage: str, undo: Any) -> None:
        mounts.mount("tmpfs", stage, "tmpfs", 0, "mode=755", undo=undo)
        syscalls.mount("none", stage, None, MS_UNBINDABLE)

    try:
        mounts.replace_tree(base, build_unbindable, root)
        message = None
    except LaunchError as exc:
        message = exc.one_line()
    return [before, mount_table(root, visible_only=True), message, sorted(os.listdir(base)),
            os.listdir(os.path.join(root, "run"))]


# --- tests -------------------------------------------------------------------------------


def by_path(table: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["path"]: m for m in table if m["visible"]}


def test_mounts_api_filesystems_on_an_empty_root() -> None:
    """An empty root should get every API file system, /dev/ptmx and /var/run -> ../run."""
    run = run_in_namespace(api_twice)
    assert run.error is None, run.log
    first, _second, ptmx, var_run = run.value
    mounted = by_path(first)
    for path, fs_type in EXPECTED.items():
        assert mounted[path]["fs_type"] == fs_type, path
        assert not mounted[path]["ro"], path
    assert "ptmxmode=666" in mounted["/dev/pts"]["super_options"]
    assert ptmx in ("pts/ptmx", "node")
    assert var_run == "../run"


def test_mounts_api_filesystems_second_run_mounts_nothing() -> None:
    """Run twice, the second run should leave the mount table identical and log only skips."""
    run = run_in_namespace(api_twice)
    assert run.error is None, run.log
    first, second = run.value[0], run.value[1]
    assert second == first
    second_half = run.log.split(": already proc, skipped")[1]
    assert ": mounted" not in second_half and "linked" not in second_half


def test_mounts_api_filesystems_failure_leaves_nothing_mounted() -> None:
    """A read-only /var makes /var/run fail: the error names it and errno, and every mount is undone."""
    run = run_in_namespace(api_failure_on_read_only_var)
    assert run.error is None, run.log
    before, after, message = run.value
    assert message is not None and "/var/run" in message and "EROFS" in message
    assert after == before


def test_mounts_docker_like_dev_and_tmp_with_files_left_alone() -> None:
    """A tmpfs /dev with device nodes is kept (no devtmpfs); a /tmp holding files gets no tmpfs over it."""
    run = run_in_namespace(api_with_docker_like_dev_and_full_tmp)
    assert run.error is None, run.log
    table, tmp_entries = run.value
    assert "/dev" in paths(table, fs_type="tmpfs")
    assert paths(table, fs_type="devtmpfs") == []
    assert "/tmp" not in paths(table)
    assert tmp_entries == ["keep"]


def test_mounts_read_only_sysfs_made_writable_in_place() -> None:
    """docker's read-only sysfs (own network namespace) should be remounted rw, same mount, writable."""
    run = run_in_namespace(api_on_read_only_sysfs, net=True)
    assert run.error is None, run.log
    before, after, writable = run.value
    old, new = by_path(before)["/sys"], by_path(after)["/sys"]
    assert old["ro"] and "ro" in old["super_options"]
    assert new["id"] == old["id"] and not new["ro"] and "rw" in new["super_options"]
    assert writable


def test_mounts_make_root_rshared_is_recursive_and_idempotent() -> None:
    """Every mount under root should be shared afterwards; a second run should change nothing."""
    run = run_in_namespace(rshared_twice)
    assert run.error is None, run.log
    before, first, second = run.value
    assert not any(m["shared"] for m in before)
    assert all(m["shared"] for m in first) and len(first) == 2
    assert second == first
    assert "already rshared, skipped" in run.log


def test_mounts_make_root_rshared_needs_a_mount_point(tmp_path: str) -> None:
    """A root that is no mount point should fail with a one-line error instead of EINVAL."""
    with pytest.raises(LaunchError, match="is not a mount point"):
        mounts.make_root_rshared(str(tmp_path))


def test_mounts_shared_var_run_through_the_image_link_is_kept() -> None:
    """An emptyDir on /var/run that the image's link puts on /run should stay that mount, with its socket as it was."""
    run = run_in_namespace(api_with_shared_var_run, "image")
    assert run.error is None, run.log
    before_id, after_id, var_run_is_link, entries, sock, mode = run.value
    assert after_id == before_id  # no tmpfs over it
    assert var_run_is_link
    assert entries == ["docker.sock"]
    assert sock == [123, 0o660]
    assert mode == 0o777


def test_mounts_shared_var_run_directory_is_not_replaced_by_a_link() -> None:
    """An empty emptyDir mounted on a real /var/run directory should stay mounted there, not become a link to ../run."""
    run = run_in_namespace(api_with_shared_var_run, "directory")
    assert run.error is None, run.log
    before_id, after_id, var_run_is_link, entries, _sock, mode = run.value
    assert not var_run_is_link
    assert after_id == before_id and entries == [] and mode == 0o777


def test_mounts_replace_tree_puts_the_old_tree_back_when_the_final_bind_fails() -> None:
    """A failed final bind should leave the old tree (mounts, flags, files) at the target, not an empty directory."""
    run = run_in_namespace(replace_tree_final_bind_fails)
    assert run.error is None, run.log
    before, after, message, listing, run_dir = run.value
    assert message is not None and "bind-mount" in message and "EINVAL" in message, message
    shape = [(m["path"], m["fs_type"], m["ro"]) for m in before if m["path"].startswith("/sys/fs/cgroup")]
    assert shape == [("/sys/fs/cgroup", "tmpfs", False), ("/sys/fs/cgroup/pids", "tmpfs", True)]
    assert [(m["path"], m["fs_type"], m["ro"]) for m in after if m["path"].startswith("/sys/fs/cgroup")] == shape
    assert listing == ["old-marker", "pids"]
    assert run_dir == [], "the staging directories should be gone"
    assert not [m for m in after if m["path"].startswith("/run/")], "a staging mount was left behind"
