"""Probes against fixture trees of /proc, /sys and /lib/modules (tests/unit/fixtures/doctor).

Fixtures: host-v1 is this build machine (cgroup v1 + empty cgroup2, every module built in,
no /proc/modules); docker-default is a container started here with no extra flags;
debian-v2 is a Debian 12 host (cgroup v2, loadable modules); container-nomods is a
default container on that host without /lib/modules.
"""

import gzip
import os
from pathlib import Path

import pytest

from docker_from_scratch.launcher import args, preflight
from docker_from_scratch.launcher.errors import LaunchError
from docker_from_scratch.requirements import modules, mountinfo, probes
from docker_from_scratch.requirements.paths import find_program
from docker_from_scratch.requirements.probes import Result, run_probe
from docker_from_scratch.requirements.table import REQUIREMENTS, Requirement, by_name

FIXTURES = Path(__file__).parent / "fixtures" / "doctor"
HOST_V1 = os.fspath(FIXTURES / "host-v1")
DOCKER_DEFAULT = os.fspath(FIXTURES / "docker-default")
DEBIAN_V2 = os.fspath(FIXTURES / "debian-v2")
CONTAINER_NOMODS = os.fspath(FIXTURES / "container-nomods")


def make_row(probe: str, target: str = "", **fields: object) -> Requirement:
    values: dict[str, object] = {"kind": "kernel", "level": "soft", "why": "test", "fix": "the fix"}
    values.update(fields)
    return Requirement(f"test {probe}", probe=probe, target=target, **values)  # type: ignore[arg-type]


def write(path: Path, text: str = "", mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


# --- the table and the probe registry ------------------------------------------------------


def test_table_every_probe_kind_has_a_probe() -> None:
    """Every probe kind the table names should have a function in PROBES."""
    missing = {row.probe for row in REQUIREMENTS} - set(probes.PROBES)
    assert not missing


def test_table_capability_targets_are_known_capabilities() -> None:
    """Capability rows should name capabilities that exist in capability(7)."""
    for row in REQUIREMENTS:
        if row.probe == "capability":
            unknown = set(row.target.split()) - set(probes.CAPABILITIES)
            assert not unknown, f"{row.name}: {unknown}"


def test_capabilities_numbers_match_linux_header() -> None:
    """The capability table should put SYS_ADMIN at 21, MKNOD at 27 and CHECKPOINT_RESTORE at 40."""
    assert probes.CAPABILITIES["CAP_SYS_ADMIN"] == 21
    assert probes.CAPABILITIES["CAP_MKNOD"] == 27
    assert probes.CAPABILITIES["CAP_CHECKPOINT_RESTORE"] == 40


def test_run_probe_reports_probe_errors_as_missing(tmp_path: Path) -> None:
    """A probe that trips over an unexpected error should yield a missing row, not raise."""
    result = run_probe(make_row("capability", "CAP_NOT_A_THING"), HOST_V1)
    assert not result.ok
    assert "cannot tell" in result.detail and result.hint == "the fix"


# --- mountinfo ---------------------------------------------------------------------------------


def test_mountinfo_unescapes_octal_spaces() -> None:
    """Mount points with spaces (\\040 in mountinfo) should come back with the space."""
    mounts = probes.read_mounts(DEBIAN_V2)
    assert "/mnt/my data" in {m.mount_point for m in mounts}


def test_mount_of_picks_the_longest_mount_point() -> None:
    """A path should belong to the deepest mount above it, not to /."""
    mounts = probes.read_mounts(DEBIAN_V2)
    mount = probes.mount_of("/var/lib/docker/overlay2", mounts)
    assert mount is not None and mount.fs_type == "xfs"


def test_mount_of_prefers_the_last_of_stacked_mounts() -> None:
    """Two mounts on one point: the one listed later (on top) should win."""
    text = (
        "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"
        "2 1 0:5 / /sys ro,nosuid - sysfs sysfs ro\n"
        "3 1 0:6 / /sys rw,nosuid - sysfs sysfs rw\n"
    )
    mount = probes.mount_of("/sys/fs", mountinfo.parse(text))
    assert mount is not None and not mount.read_only


def test_mount_of_does_not_match_a_sibling_prefix() -> None:
    """/var/lib/docker2 should not count as inside a /var/lib/docker mount."""
    mounts = probes.read_mounts(DEBIAN_V2)
    mount = probes.mount_of("/var/lib/docker2", mounts)
    assert mount is not None and mount.mount_point == "/"


# --- programs and files ------------------------------------------------------------------------


def test_program_found_on_path_inside_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A program in a PATH directory under root should be found, with its path."""
    write(tmp_path / "usr/sbin/dockerd", "#!/bin/sh\n", 0o755)
    monkeypatch.setenv("PATH", "/usr/local/bin:/usr/sbin")
    result = probes.probe_program(by_name("dockerd"), os.fspath(tmp_path))
    assert result == Result(True, "/usr/sbin/dockerd")


def test_program_not_executable_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file without the execute bit should not count as the program."""
    write(tmp_path / "usr/bin/xz", "data", 0o644)
    monkeypatch.setenv("PATH", "/usr/bin")
    assert not probes.probe_program(by_name("xz"), os.fspath(tmp_path)).ok


def test_program_follows_absolute_symlinks_inside_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A link to an absolute path should resolve inside root, not on the host."""
    write(tmp_path / "usr/bin/kmod", "#!/bin/sh\n", 0o755)
    (tmp_path / "usr/sbin").mkdir(parents=True)
    (tmp_path / "usr/sbin/modprobe").symlink_to("/usr/bin/kmod")
    monkeypatch.setenv("PATH", "/usr/sbin")
    assert probes.probe_program(by_name("modprobe"), os.fspath(tmp_path)).ok


def test_program_missing_iptables_names_iptables_false(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without iptables on PATH the fix should name dockerd's --iptables=false."""
    monkeypatch.setenv("PATH", "/usr/sbin:/usr/bin")
    result = probes.probe_program(by_name("iptables"), os.fspath(tmp_path))
    assert not result.ok
    assert result.detail == "no iptables on PATH"
    assert "--iptables=false" in result.hint


def test_file_present_and_not_empty(tmp_path: Path) -> None:
    """The CA bundle should count as found only when it is a non-empty file."""
    row = by_name("ca-certificates")
    bundle = write(tmp_path / "etc/ssl/certs/ca-certificates.crt", "")
    assert not probes.probe_file(row, os.fspath(tmp_path)).ok
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert probes.probe_file(row, os.fspath(tmp_path)).ok


def test_file_default_under_usr_etc_counts(tmp_path: Path) -> None:
    """Only /usr/etc's copy of the CA bundle: found, since dockerlaunch copies it to /etc."""
    write(tmp_path / "usr/etc/ssl/certs/ca-certificates.crt", "-----BEGIN CERTIFICATE-----\n")
    result = probes.probe_file(by_name("ca-certificates"), os.fspath(tmp_path))
    assert result.ok
    assert result.detail.startswith("/usr/etc/ssl/certs/ca-certificates.crt (dockerlaunch copies")


def test_library_found_in_a_multiarch_directory(tmp_path: Path) -> None:
    """libcrypto under /usr/lib/<triplet> should count as found, where the loader looks."""
    row = by_name("libcrypto")
    assert not probes.probe_library(row, os.fspath(tmp_path)).ok
    write(tmp_path / "usr/lib/aarch64-linux-gnu/libcrypto.so.3", "ELF")
    result = probes.probe_library(row, os.fspath(tmp_path))
    assert result.ok
    assert result.detail == "/usr/lib/aarch64-linux-gnu/libcrypto.so.3"


def test_library_elsewhere_is_missing_with_the_fix(tmp_path: Path) -> None:
    """A libcrypto outside the loader's directories should be missing, naming DOCKER_TLS_CERTDIR=''."""
    write(tmp_path / "opt/lib/libcrypto.so.3", "ELF")
    result = probes.probe_library(by_name("libcrypto"), os.fspath(tmp_path))
    assert not result.ok
    assert "DOCKER_TLS_CERTDIR=''" in result.hint


def test_git_clone_is_built_into_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """git clone needs no file in git-core: git on PATH should be enough."""
    write(tmp_path / "usr/bin/git", "ELF", 0o755)
    monkeypatch.setenv("PATH", "/usr/bin")
    monkeypatch.delenv("GIT_EXEC_PATH", raising=False)
    result = probes.probe_git_subcommand(by_name("git-clone"), os.fspath(tmp_path))
    assert result.ok and "built into" in result.detail


def test_git_submodule_script_needs_its_helpers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """git-submodule is a shell script: a missing sh or sed should be named."""
    write(tmp_path / "usr/bin/git", "ELF", 0o755)
    write(tmp_path / "usr/lib/git-core/git-submodule", "#!/bin/sh\n# script\n", 0o755)
    for tool in ("basename", "uname"):
        write(tmp_path / "usr/bin" / tool, "ELF", 0o755)
    monkeypatch.setenv("PATH", "/usr/bin")
    monkeypatch.delenv("GIT_EXEC_PATH", raising=False)
    row = by_name("git-submodule")
    result = probes.probe_git_subcommand(row, os.fspath(tmp_path))
    assert not result.ok
    assert "/bin/sh" in result.detail and "sed" in result.detail
    write(tmp_path / "usr/bin/sed", "ELF", 0o755)
    write(tmp_path / "usr/bin/dash", "ELF", 0o755)
    (tmp_path / "bin").symlink_to("usr/bin")
    (tmp_path / "usr/bin/sh").symlink_to("dash")
    assert probes.probe_git_subcommand(row, os.fspath(tmp_path)).ok


def test_git_subcommand_without_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No git on PATH should make every git row missing."""
    monkeypatch.setenv("PATH", "/usr/bin")
    assert probes.probe_git_subcommand(by_name("git-checkout"), os.fspath(tmp_path)) == Result(
        False, "no git on PATH", by_name("git-checkout").fix
    )


# --- kernel modules ------------------------------------------------------------------------


def test_module_loaded_from_proc_modules() -> None:
    """A module listed in /proc/modules should be 'loaded'."""
    assert modules.module_state("bridge", DEBIAN_V2).state == "loaded"


def test_module_built_in_from_sys_module() -> None:
    """/sys/module/X without a /proc/modules line should count as built in."""
    state = modules.module_state("bridge", HOST_V1)
    assert state.state == "built in" and "/sys/module/bridge" in state.evidence


def test_module_built_in_from_kernel_config() -> None:
    """On a kernel without module support, CONFIG_X=y should count as built in."""
    state = modules.module_state("veth", HOST_V1)
    assert (state.state, state.evidence) == ("built in", "CONFIG_VETH=y")


def test_module_built_in_from_proc_config_gz() -> None:
    """/proc/config.gz (gzip) should be read like /boot/config-<release>."""
    assert modules.kernel_config("CONFIG_VETH", DOCKER_DEFAULT) == "y"
    assert modules.kernel_config("CONFIG_MODULES", DOCKER_DEFAULT) == "n"


def test_module_built_in_from_modules_builtin(tmp_path: Path) -> None:
    """A module listed in modules.builtin should count as built in (names with - or _)."""
    write(tmp_path / "proc/modules", "overlay 1 0 - Live 0x0\n")
    write(tmp_path / "proc/sys/kernel/osrelease", "6.1.0-test\n")
    write(tmp_path / "lib/modules/6.1.0-test/modules.builtin", "kernel/net/bridge/br-netfilter.ko\n")
    state = modules.module_state("br_netfilter", os.fspath(tmp_path))
    assert state.state == "built in" and "modules.builtin" in state.evidence


def test_module_loadable_from_modules_dep() -> None:
    """A module file in modules.dep (also .ko.xz) should count as loadable."""
    assert modules.module_state("br_netfilter", DEBIAN_V2).state == "loadable"
    assert modules.module_state("veth", DEBIAN_V2).state == "loadable"


def test_module_name_must_match_whole() -> None:
    """nf_nat_ftp.ko in modules.dep should not make a module called nf_na look present."""
    assert "nf_nat" not in modules.parse_module_list("kernel/net/netfilter/nf_nat_ftp.ko:\n")
    assert "nf_nat" in modules.parse_module_list("kernel/net/netfilter/nf_nat.ko.zst: kernel/x.ko\n")


def test_module_absent_without_lib_modules_suggests_mounting_it() -> None:
    """Not loaded and no /lib/modules: missing, with -v /lib/modules:/lib/modules:ro as fix."""
    result = probes.probe_module(by_name("br_netfilter"), CONTAINER_NOMODS)
    assert not result.ok
    assert "no /lib/modules/6.1.0-28-amd64" in result.detail
    assert "-v /lib/modules:/lib/modules:ro" in result.hint


def test_module_absent_when_config_says_not_set(tmp_path: Path) -> None:
    """'# CONFIG_X is not set' should make the module absent, naming the symbol."""
    write(tmp_path / "proc/self/status", "Uid:\t0\t0\t0\t0\n")
    write(tmp_path / "proc/sys/kernel/osrelease", "6.1.0-test\n")
    write(tmp_path / "boot/config-6.1.0-test", "# CONFIG_VETH is not set\n")
    state = modules.module_state("veth", os.fspath(tmp_path))
    assert (state.state, state.evidence) == ("absent", "CONFIG_VETH is not set")


def test_module_unknown_without_any_evidence(tmp_path: Path) -> None:
    """No /proc/modules, no config, no trace: the probe should say it cannot tell."""
    write(tmp_path / "proc/self/status", "Uid:\t0\t0\t0\t0\n")
    write(tmp_path / "proc/sys/kernel/osrelease", "6.1.0-none\n")
    result = probes.probe_module(by_name("veth"), os.fspath(tmp_path))
    assert not result.ok and "no kernel config" in result.detail


def test_modules_dir_nothing_to_load() -> None:
    """All needed modules built in: the /lib/modules row should pass without the directory."""
    result = probes.probe_modules_dir(by_name("kernel modules"), HOST_V1)
    assert result.ok and "nothing to load" in result.detail


def test_modules_dir_present_to_load_pending_modules() -> None:
    """Modules not loaded yet but /lib/modules/<release> here: found, naming them."""
    result = probes.probe_modules_dir(by_name("kernel modules"), DEBIAN_V2)
    assert result.ok and "veth" in result.detail and "br_netfilter" in result.detail


def test_modules_dir_missing_names_the_mount_fix() -> None:
    """Modules pending and no /lib/modules: missing, naming them and -v /lib/modules."""
    row = by_name("kernel modules")
    result = probes.probe_modules_dir(row, CONTAINER_NOMODS)
    assert not result.ok
    assert result.detail == "no /lib/modules/6.1.0-28-amd64; not loaded: br_netfilter"
    assert "-v /lib/modules:/lib/modules:ro" in result.hint


def test_filesystem_overlay_from_proc_filesystems() -> None:
    """overlay in /proc/filesystems should be found."""
    assert probes.probe_filesystem(by_name("overlay"), DEBIAN_V2).ok


def test_filesystem_overlay_loadable(tmp_path: Path) -> None:
    """overlay not registered yet but loadable from /lib/modules should be found."""
    write(tmp_path / "proc/filesystems", "nodev\tproc\n\text4\n")
    write(tmp_path / "proc/modules", "")
    write(tmp_path / "proc/sys/kernel/osrelease", "6.1.0-x\n")
    write(tmp_path / "lib/modules/6.1.0-x/modules.dep", "kernel/fs/overlayfs/overlay.ko.xz:\n")
    result = probes.probe_filesystem(by_name("overlay"), os.fspath(tmp_path))
    assert result.ok and "loadable" in result.detail


def test_netfilter_nat_through_nf_tables() -> None:
    """nf_tables with its nat chain and xt compat (loaded or loadable) should give NAT."""
    result = probes.probe_netfilter(by_name("netfilter nat"), DEBIAN_V2)
    assert result.ok and result.detail.startswith("nf_tables")


def test_netfilter_nat_through_legacy_table(tmp_path: Path) -> None:
    """A nat table in /proc/net/ip_tables_names should give NAT (legacy iptables)."""
    write(tmp_path / "proc/net/ip_tables_names", "filter\nnat\n")
    assert probes.probe_netfilter(by_name("netfilter nat"), os.fspath(tmp_path)).ok


def test_netfilter_nat_missing_names_both_stacks(tmp_path: Path) -> None:
    """Neither stack available: the detail should name what each one lacks."""
    write(tmp_path / "proc/modules", "nf_tables 1 0 - Live 0x0\n")
    write(tmp_path / "proc/sys/kernel/osrelease", "6.1.0-y\n")
    write(tmp_path / "lib/modules/6.1.0-y/modules.dep", "kernel/net/netfilter/nf_tables.ko:\n")
    result = probes.probe_netfilter(by_name("netfilter nat"), os.fspath(tmp_path))
    assert not result.ok
    assert "nf_tables: nf_nat absent" in result.detail and "legacy:" in result.detail


# --- cgroups ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("root", "version"),
    [(HOST_V1, "hybrid"), (DOCKER_DEFAULT, "v1"), (DEBIAN_V2, "v2"), (CONTAINER_NOMODS, "v2")],
    ids=["host-v1", "docker-default", "debian-v2", "container-nomods"],
)
def test_cgroup_layout_detects_version(root: str, version: str) -> None:
    """v1, v2 and hybrid (v1 plus a cgroup2 mount) should be told apart from mountinfo."""
    assert probes.cgroup_layout(root).version == version


def test_cgroup_fs_not_mounted_but_in_kernel(tmp_path: Path) -> None:
    """No cgroup mounted but the kernel offers cgroup2: found (dockerlaunch mounts it)."""
    write(tmp_path / "proc/self/mountinfo", "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n")
    write(tmp_path / "proc/filesystems", "nodev\tcgroup\nnodev\tcgroup2\n")
    result = probes.probe_cgroup_fs(by_name("cgroups"), os.fspath(tmp_path))
    assert result.ok and "none mounted" in result.detail


def test_cgroup_fs_missing_from_kernel(tmp_path: Path) -> None:
    """A kernel without any cgroup file system should fail the hard cgroups row."""
    write(tmp_path / "proc/self/mountinfo", "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n")
    write(tmp_path / "proc/filesystems", "nodev\tproc\n")
    assert not probes.probe_cgroup_fs(by_name("cgroups"), os.fspath(tmp_path)).ok


def test_cgroup_writable_reports_read_only_hierarchies() -> None:
    """A default container's read-only v1 bind mounts should all be named."""
    result = probes.probe_cgroup_writable(by_name("writable cgroups"), DOCKER_DEFAULT)
    assert not result.ok
    assert result.detail.startswith("read-only cgroup mounts (9 of 9): cpu, cpuacct")


def test_cgroup_writable_on_a_host() -> None:
    """The build machine's cgroups are read-write."""
    assert probes.probe_cgroup_writable(by_name("writable cgroups"), HOST_V1).ok


def test_cgroup_controller_v2_from_cgroup_controllers() -> None:
    """v2: a controller listed in cgroup.controllers should be found."""
    result = probes.probe_cgroup_controller(by_name("cgroup memory"), DEBIAN_V2)
    assert result == Result(True, "memory in cgroup.controllers (v2)")


def test_cgroup_controller_v2_missing_lists_what_is_offered(tmp_path: Path) -> None:
    """v2 without pids delegated: missing, listing the controllers that are there."""
    write(tmp_path / "proc/self/mountinfo", "1 0 0:5 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n")
    write(tmp_path / "sys/fs/cgroup/cgroup.controllers", "cpu memory\n")
    result = probes.probe_cgroup_controller(by_name("cgroup pids"), os.fspath(tmp_path))
    assert not result.ok and "(v2 offers: cpu memory)" in result.detail


def test_cgroup_controller_v1_disabled_in_proc_cgroups(tmp_path: Path) -> None:
    """v1: enabled=0 in /proc/cgroups (cgroup_disable=memory) should be missing."""
    write(tmp_path / "proc/cgroups", "#subsys_name\thierarchy\tnum_cgroups\tenabled\nmemory\t0\t1\t0\n")
    result = probes.probe_cgroup_controller(by_name("cgroup memory"), os.fspath(tmp_path))
    assert not result.ok and "disabled" in result.detail


def test_cgroup_devices_v1_controller() -> None:
    """v1: the devices controller in /proc/cgroups should satisfy the devices row."""
    result = probes.probe_cgroup_devices(by_name("cgroup devices"), DOCKER_DEFAULT)
    assert result.ok and result.detail.startswith("devices enabled")


def test_cgroup_devices_v2_is_bpf() -> None:
    """v2: CONFIG_CGROUP_BPF=y should satisfy the devices row (runc filters with BPF)."""
    result = probes.probe_cgroup_devices(by_name("cgroup devices"), DEBIAN_V2)
    assert result.ok and "CONFIG_CGROUP_BPF=y" in result.detail


def test_cgroup_devices_v2_without_bpf_evidence(tmp_path: Path) -> None:
    """v2 with no kernel config and no bpf(2) sysctl: missing."""
    write(tmp_path / "proc/self/mountinfo", "1 0 0:5 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n")
    write(tmp_path / "sys/fs/cgroup/cgroup.controllers", "cpu memory pids\n")
    assert not probes.probe_cgroup_devices(by_name("cgroup devices"), os.fspath(tmp_path)).ok


# --- namespaces, seccomp, privileges --------------------------------------------------------


def test_namespaces_all_present() -> None:
    """mnt pid net uts ipc under /proc/self/ns should pass."""
    assert probes.probe_namespaces(by_name("namespaces"), HOST_V1).ok


def test_namespaces_names_the_missing_one(tmp_path: Path) -> None:
    """A kernel without network namespaces should be named as lacking net."""
    for name in ("mnt", "pid", "uts", "ipc"):
        write(tmp_path / "proc/self/ns" / name)
    result = probes.probe_namespaces(by_name("namespaces"), os.fspath(tmp_path))
    assert result == Result(False, "no net in /proc/self/ns", by_name("namespaces").fix)


def test_seccomp_supported_and_filtered() -> None:
    """Seccomp: 2 should still pass, noting that this process is filtered already."""
    result = probes.probe_seccomp(by_name("seccomp"), DOCKER_DEFAULT)
    assert result.ok and "filtered already" in result.detail


def test_seccomp_missing_without_status_line(tmp_path: Path) -> None:
    """A kernel without CONFIG_SECCOMP has no Seccomp: line: missing."""
    write(tmp_path / "proc/self/status", "Uid:\t0\t0\t0\t0\n")
    assert not probes.probe_seccomp(by_name("seccomp"), os.fspath(tmp_path)).ok


def test_root_by_effective_uid(tmp_path: Path) -> None:
    """The effective uid (second Uid: field) decides, not the real one."""
    write(tmp_path / "proc/self/status", "Uid:\t0\t1000\t1000\t1000\n")
    result = probes.probe_root(by_name("root"), os.fspath(tmp_path))
    assert result == Result(False, "running as uid 1000", "run as root")
    assert probes.probe_root(by_name("root"), HOST_V1).ok


def test_capability_missing_in_default_container() -> None:
    """A default container lacks CAP_SYS_ADMIN: named with the CapEff mask."""
    result = probes.probe_capability(by_name("CAP_SYS_ADMIN"), DOCKER_DEFAULT)
    assert result == Result(False, "CapEff 00000000a80425fb lacks CAP_SYS_ADMIN", by_name("CAP_SYS_ADMIN").fix)


def test_capability_default_set_in_default_container() -> None:
    """Docker's default capability set is exactly what a default container has."""
    assert probes.probe_capability(by_name("container capabilities"), DOCKER_DEFAULT).ok


def test_capability_default_set_names_each_missing(tmp_path: Path) -> None:
    """Without MKNOD and NET_RAW, both should be named."""
    mask = 0xA80425FB & ~(1 << 27) & ~(1 << 13)
    write(tmp_path / "proc/self/status", f"CapEff:\t{mask:016x}\n")
    result = probes.probe_capability(by_name("container capabilities"), os.fspath(tmp_path))
    assert not result.ok and result.detail.endswith("lacks CAP_MKNOD, CAP_NET_RAW")


def test_writable_sys_read_only_in_default_container() -> None:
    """A default container's /sys is mounted read-only."""
    result = probes.probe_writable(by_name("writable /sys"), DOCKER_DEFAULT)
    assert not result.ok and result.detail == "/sys is read-only (sysfs at /sys)"


def test_writable_sys_on_host() -> None:
    """The build machine's /sys is read-write."""
    assert probes.probe_writable(by_name("writable /sys"), HOST_V1).ok


def test_not_overlay_data_root_on_container_overlay() -> None:
    """An absent data root in a container falls back to / on overlay: missing."""
    result = probes.probe_not_overlay(by_name("data root not on overlayfs"), DOCKER_DEFAULT)
    assert not result.ok and "on overlay (mounted at /)" in result.detail


def test_not_overlay_data_root_on_volume() -> None:
    """A data root on its own xfs mount should pass."""
    result = probes.probe_not_overlay(by_name("data root not on overlayfs"), DEBIAN_V2)
    assert result == Result(True, "/var/lib/docker is on xfs (mounted at /var/lib/docker)")


def test_device_dev_null_opens() -> None:
    """The real /dev/null should open read-write."""
    assert probes.probe_device(by_name("/dev/null"), "/").ok


def test_device_regular_file_is_not_a_device(tmp_path: Path) -> None:
    """A regular file at /dev/null (a broken image) should not pass."""
    write(tmp_path / "dev/null")
    result = probes.probe_device(by_name("/dev/null"), os.fspath(tmp_path))
    assert not result.ok and "not a character device" in result.detail


# --- pre-flight ------------------------------------------------------------------------------------


def test_preflight_default_container_stops_on_capabilities(monkeypatch: pytest.MonkeyPatch) -> None:
    """In a default container the hard failures should be the missing capabilities (and
    /dev/null here, absent from the fixture), not the /sys and cgroups it repairs."""
    monkeypatch.setenv("PATH", "/usr/bin")
    hard, soft = preflight.preflight(root=DOCKER_DEFAULT)
    assert [f.name for f in hard] == ["CAP_SYS_ADMIN", "CAP_NET_ADMIN", "writable /proc/sys", "/dev/null"]
    assert hard[0].message == (
        "CAP_SYS_ADMIN is required to mount file systems and create namespaces: "
        "CapEff 00000000a80425fb lacks CAP_SYS_ADMIN"
    )
    assert hard[0].hint == (
        "run the container with --privileged, or --cap-add SYS_ADMIN (docker-from-scratch flags --minimal)"
    )
    names = {f.name for f in soft}
    assert {"data root not on overlayfs", "CAP_SYS_MODULE", "iptables"} <= names
    assert "git" not in names  # optional rows never warn
    warning = next(f for f in soft if f.name == "iptables").warning
    assert warning.startswith("iptables missing: container networking beyond the bridge")


def test_preflight_leaves_out_proc_rows_without_proc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before /proc is mounted, rows read from /proc should not stop the launcher."""
    monkeypatch.setenv("PATH", "/usr/bin")
    rows = preflight.preflight_rows(root=os.fspath(tmp_path))
    assert "CAP_SYS_ADMIN" not in {r.name for r in rows}
    assert "dockerd" in {r.name for r in rows}


def test_preflight_data_root_override(tmp_path: Path) -> None:
    """data_root should replace the not-overlay row's path."""
    rows = [by_name("data root not on overlayfs")]
    _, soft = preflight.preflight(rows, root=DEBIAN_V2, data_root="/srv/docker")
    assert [f.result.detail for f in soft] == []
    _, soft = preflight.preflight(rows, root=DOCKER_DEFAULT, data_root="/srv/docker")
    assert soft[0].result.detail.startswith("/srv/docker is on overlay")


@pytest.mark.parametrize(("step", "warned"), [("auto", False), ("modprobe", True)])
def test_preflight_leaves_module_rows_to_the_module_step_when_it_asks_the_kernel(
    step: str, warned: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without /lib/modules the auto module step asks the kernel: only then should module rows not warn first."""
    options = args.parse(["/bin/true"], {"DOCKER_TLS_CERTDIR": ""})
    with pytest.raises(LaunchError):  # the fixture has no dockerd: the warnings come first
        preflight.check_requirements(options, root=CONTAINER_NOMODS, modules_step=step)
    warnings = capsys.readouterr().err
    assert ("br_netfilter missing" in warnings) is warned
    assert ("kernel modules missing" in warnings) is warned
    assert "xz missing" in warnings  # other rows warn as before


def test_kernel_config_from_gzip_bytes(tmp_path: Path) -> None:
    """A gzip /proc/config.gz should be decoded, with y, m, strings and 'is not set' lines."""
    write(tmp_path / "proc/sys/kernel/osrelease", "9.9\n")
    config = b'CONFIG_A=y\nCONFIG_AB=m\n# CONFIG_C is not set\nCONFIG_S="x"\nCONFIG_LAST=y'
    (tmp_path / "proc/config.gz").write_bytes(gzip.compress(config))
    values = [
        modules.kernel_config(s, os.fspath(tmp_path))
        for s in ("CONFIG_A", "CONFIG_AB", "CONFIG_C", "CONFIG_S", "CONFIG_LAST", "CONFIG_D")
    ]
    assert values == ["y", "m", "n", "x", "y", None]


def test_program_probe_accepts_a_dist_fallback(tmp_path: Path) -> None:
    """A program present only as NAME.dist should count: the launcher links it before dockerd starts."""
    bindir = tmp_path / "usr" / "bin"
    bindir.mkdir(parents=True)
    (bindir / "runc.dist").write_text("#!/bin/sh\n")
    (bindir / "runc.dist").chmod(0o755)
    assert find_program("runc", "/usr/bin", root=os.fspath(tmp_path), dist=True) == "/usr/bin/runc.dist"
    assert find_program("containerd", "/usr/bin", root=os.fspath(tmp_path), dist=True) is None


def test_parse_module_list_reads_builtin_and_dep_lines_alike() -> None:
    """modules.builtin paths and modules.dep "path: deps" lines should both give module names."""
    text = "kernel/fs/overlayfs/overlay.ko\nkernel/net/bridge/br_netfilter.ko.xz: kernel/net/bridge/bridge.ko.xz\n\n"
    assert modules.parse_module_list(text) == {"overlay", "br_netfilter"}


def test_listed_modules_reads_a_changed_file_anew(tmp_path: Path) -> None:
    """listed_modules should parse a file once per version and see a rewritten file's new names."""
    listing = tmp_path / "lib/modules/6.1.0-test/modules.builtin"
    write(listing, "kernel/fs/overlayfs/overlay.ko\n")
    assert modules.listed_modules(os.fspath(tmp_path), "/lib/modules/6.1.0-test/modules.builtin") == {"overlay"}
    write(listing, "kernel/fs/overlayfs/overlay.ko\nkernel/drivers/net/veth.ko\n")
    assert modules.listed_modules(os.fspath(tmp_path), "/lib/modules/6.1.0-test/modules.builtin") == {"overlay", "veth"}
    assert modules.listed_modules(os.fspath(tmp_path), "/lib/modules/6.1.0-test/modules.dep") == frozenset()
