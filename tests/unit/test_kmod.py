"""Kernel module bookkeeping from fixture files: modules.builtin, /proc/modules, /sys/module."""

import shutil
from pathlib import Path

import pytest

from docker_from_scratch.launcher import kmod
from docker_from_scratch.requirements.modules import MODULES, parse_module_list, parse_proc_modules

FIXTURES = Path(__file__).parent / "fixtures"
RELEASE = "6.1.0-test-amd64"


def fake_root(root: Path, sys_modules: tuple[str, ...] = ()) -> str:
    """root/lib/modules/RELEASE/modules.builtin, root/proc/modules, root/sys/module/<name>."""
    modules = root / "lib" / "modules" / RELEASE
    modules.mkdir(parents=True)
    shutil.copy(FIXTURES / "modules.builtin", modules / "modules.builtin")
    (root / "proc").mkdir()
    shutil.copy(FIXTURES / "proc_modules.txt", root / "proc" / "modules")
    for name in sys_modules:
        (root / "sys" / "module" / name).mkdir(parents=True)
    return str(root)


def test_kmod_parse_modules_builtin_normalizes_names() -> None:
    """Paths become module names without suffix, with - read as _."""
    builtin = parse_module_list(
        "kernel/net/netfilter/nf-conntrack-netlink.ko\nkernel/fs/overlayfs/overlay.ko.xz\n"
    )
    assert builtin == {"nf_conntrack_netlink", "overlay"}


def test_kmod_parse_proc_modules_takes_first_column() -> None:
    """/proc/modules lines give their module name."""
    assert parse_proc_modules((FIXTURES / "proc_modules.txt").read_text()) == {
        "nft_chain_nat", "nf_nat", "ip_tables", "iptable_nat",
    }  # fmt: skip


def test_kmod_module_list_is_unique_and_describes_features() -> None:
    """The one module list names each module once, each with the feature it carries."""
    names = [name for name, _ in MODULES]
    assert len(names) == len(set(names))
    assert {"overlay", "br_netfilter", "nf_tables", "xt_MASQUERADE", "ip_tables"} <= set(names)
    assert all(feature for _, feature in MODULES)


def test_kmod_no_modules_directory_is_skipped(tmp_path: Path) -> None:
    """Without /lib/modules/RELEASE there is nothing to load: no statuses, no process."""
    assert kmod.load_modules(str(tmp_path), release=RELEASE) == []


def test_kmod_all_present_starts_no_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Built in, in /proc/modules or in /sys/module: each is reported so and modprobe never runs."""
    monkeypatch.setenv("DOCKER_LAUNCH_DEBUG", "true")
    from docker_from_scratch.launcher import log

    log.set_debug(True)
    try:
        root = fake_root(tmp_path, sys_modules=("iptable_filter",))
        statuses = kmod.load_modules(root, release=RELEASE)
    finally:
        log.set_debug(False)
    states = {status.name: status.state for status in statuses}
    assert states["overlay"] == "built in"
    assert states["nf_conntrack_netlink"] == "built in"  # listed as nf-conntrack-netlink.ko
    assert states["nf_nat"] == "loaded"  # /proc/modules
    assert states["iptable_filter"] == "loaded"  # /sys/module
    assert set(states.values()) <= {"built in", "loaded"}
    err = capsys.readouterr().err
    assert "run:" not in err and f"all {len(MODULES)} built in or loaded, skipped" in err
