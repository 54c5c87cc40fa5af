"""The autoload decisions from a fixture root: when to ask the kernel, what to ask, what to log.

The trigger itself (an interface lookup that makes the kernel run its modprobe helper)
only does something on a kernel with loadable modules; here a fixture trigger plays the
kernel's part by adding the module to the root's /proc/modules, or by doing nothing.
"""

from collections.abc import Callable
from pathlib import Path

import pytest

from docker_from_scratch.launcher import autoload, log
from docker_from_scratch.launcher.errors import UsageError

RELEASE = "6.1.0-test-amd64"
NEEDED = (("overlay", "overlay2"), ("bridge", "bridges"), ("veth", "veths"), ("nf_conntrack_netlink", "clean-up"))


def fake_root(root: Path, loaded: tuple[str, ...] = (), modules_dep: bool = False) -> str:
    """root/proc/modules with ``loaded``, the release in osrelease, and /lib/modules only on request."""
    (root / "proc" / "sys" / "kernel").mkdir(parents=True)
    (root / "proc" / "sys" / "kernel" / "osrelease").write_text(RELEASE + "\n")
    (root / "proc" / "self").mkdir()
    (root / "proc" / "modules").write_text("".join(f"{name} 16384 0 - Live 0x0\n" for name in loaded))
    if modules_dep:
        moddir = root / "lib" / "modules" / RELEASE
        moddir.mkdir(parents=True)
        (moddir / "modules.dep").write_text("kernel/fs/overlayfs/overlay.ko.xz:\n")
    return str(root)


def loading(root: Path, loads: set[str], asked: list[str]) -> Callable[[str], None]:
    """A trigger that records each name and, for names in ``loads``, loads the module as the kernel would."""

    def trigger(name: str) -> None:
        asked.append(name)
        if name in loads:
            with open(root / "proc" / "modules", "a") as handle:
                handle.write(f"{name} 16384 0 - Live 0x0\n")

    return trigger


@pytest.fixture(autouse=True)
def debug_log() -> None:
    log.set_debug(True)


def test_autoload_skipped_when_modprobe_has_an_index(tmp_path: Path) -> None:
    """With /lib/modules/RELEASE/modules.dep modprobe does the job: no trigger runs."""
    asked: list[str] = []
    root = fake_root(tmp_path, modules_dep=True)
    assert autoload.autoload(root, NEEDED, trigger=loading(tmp_path, set(), asked)) == []
    assert asked == []


def test_autoload_asks_only_for_modules_neither_loaded_nor_built_in(tmp_path: Path) -> None:
    """Loaded (/proc/modules) and built-in (/sys/module only) modules are not asked for."""
    asked: list[str] = []
    root = fake_root(tmp_path, loaded=("overlay",))
    (tmp_path / "sys" / "module" / "bridge").mkdir(parents=True)
    autoload.autoload(root, NEEDED, trigger=loading(tmp_path, set(), asked))
    assert asked == ["veth"]


def test_autoload_reports_loaded_and_still_missing_per_module(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each module asked for is read again: loaded by the trigger or still missing, both logged with the fix."""
    asked: list[str] = []
    root = fake_root(tmp_path)
    outcomes = autoload.autoload(root, NEEDED[:3], trigger=loading(tmp_path, {"overlay", "veth"}, asked))
    assert {o.name: o.state for o in outcomes} == {
        "overlay": "loaded by the trigger", "bridge": "still missing", "veth": "loaded by the trigger",
    }  # fmt: skip
    err = capsys.readouterr().err
    assert "loaded by the kernel's autoload trigger: overlay veth" in err
    assert "kernel modules still missing: bridge (hint: mount the host's modules" in err
    assert "modprobe bridge" in err


def test_autoload_names_over_fifteen_characters_have_no_trigger(tmp_path: Path) -> None:
    """An interface name stops at 15 characters: a longer module name is never looked up, and says why."""
    asked: list[str] = []
    root = fake_root(tmp_path, loaded=("overlay", "bridge", "veth"))
    outcomes = autoload.autoload(root, NEEDED, trigger=loading(tmp_path, set(), asked))
    assert asked == []
    assert [(o.name, o.state) for o in outcomes] == [("nf_conntrack_netlink", "no trigger")]


def test_autoload_modprobe_setting_asks_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """DOCKER_LAUNCH_MODULES=modprobe leaves missing modules alone and says which."""
    asked: list[str] = []
    root = fake_root(tmp_path)
    trigger = loading(tmp_path, {"overlay"}, asked)
    assert autoload.autoload(root, NEEDED[:1], trigger=trigger, setting="modprobe") == []
    assert asked == []
    assert "not asking the kernel for overlay" in capsys.readouterr().err


def test_autoload_real_trigger_on_a_name_that_is_no_interface_returns() -> None:
    """The real lookup of a name no interface has returns quietly (ENODEV is the expected answer)."""
    autoload.ask_kernel("dfs_no_such_mod")


def test_autoload_mode_reads_the_setting_and_refuses_others() -> None:
    """DOCKER_LAUNCH_MODULES is auto when unset, any case of auto/modprobe/off, else a usage error with the hint."""
    assert autoload.mode({}) == "auto"
    assert autoload.mode({autoload.ENV: " OFF "}) == "off"
    assert autoload.mode({autoload.ENV: "modprobe"}) == "modprobe"
    with pytest.raises(UsageError) as caught:
        autoload.mode({autoload.ENV: "sometimes"})
    assert caught.value.hint == "use auto, modprobe or off"


def test_autoload_kernel_without_loadable_modules_asks_nothing(tmp_path: Path) -> None:
    """No /proc/modules (CONFIG_MODULES unset): nothing can be loaded, so nothing is asked or reported missing."""
    asked: list[str] = []
    root = fake_root(tmp_path)
    (tmp_path / "proc" / "modules").unlink()
    assert autoload.autoload(root, NEEDED, trigger=loading(tmp_path, set(), asked)) == []
    assert asked == []


def test_autoload_off_also_stops_pid1s_one_modprobe(monkeypatch: pytest.MonkeyPatch) -> None:
    """DOCKER_LAUNCH_MODULES=off should make a bare-kernel PID 1 skip its modprobe -a as well, before any lookup."""
    from docker_from_scratch.launcher import baremetal

    monkeypatch.setenv(autoload.ENV, "off")
    monkeypatch.setattr(baremetal.os.path, "isdir", lambda path: pytest.fail(f"looked at {path}"))
    assert baremetal.load_modules_at_once() == (0, 0.0)
