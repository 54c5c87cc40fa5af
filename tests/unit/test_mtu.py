"""The MTU rule (launcher/mtu.py): default route, settings, who wins, and dockerd's arguments."""

from pathlib import Path

import pytest

from docker_from_scratch.launcher import mtu
from docker_from_scratch.launcher.args import parse
from docker_from_scratch.launcher.errors import UsageError

ROUTE_HEADER = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
NETWORK_OPTION = "bridge=com.docker.network.driver.mtu="


def fake_root(tmp_path: Path, routes: str, mtus: dict[str, int], daemon_json: str | None = None) -> str:
    """A root with /proc/net/route, /sys/class/net/*/mtu and optionally /etc/docker/daemon.json."""
    (tmp_path / "proc/net").mkdir(parents=True)
    (tmp_path / "proc/net/route").write_text(ROUTE_HEADER + routes)
    for name, value in mtus.items():
        (tmp_path / f"sys/class/net/{name}").mkdir(parents=True)
        (tmp_path / f"sys/class/net/{name}/mtu").write_text(f"{value}\n")
    if daemon_json is not None:
        (tmp_path / "etc/docker").mkdir(parents=True)
        (tmp_path / "etc/docker/daemon.json").write_text(daemon_json)
    return str(tmp_path)


DEFAULT_VIA_ETH0 = "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
LINK_ROUTE = "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"


def test_mtu_default_route_interface_is_found() -> None:
    """The interface of the 0.0.0.0/0 route should be found among other routes."""
    assert mtu.default_route_interface(ROUTE_HEADER + LINK_ROUTE + DEFAULT_VIA_ETH0) == "eth0"


def test_mtu_default_route_lowest_metric_wins() -> None:
    """With two default routes, the one with the lower metric should be taken."""
    routes = "wlan0\t00000000\t010200C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n"
    routes += "eth1\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
    assert mtu.default_route_interface(ROUTE_HEADER + routes) == "eth1"


def test_mtu_default_route_down_is_ignored() -> None:
    """A default route without the RTF_UP flag should not count."""
    assert mtu.default_route_interface(ROUTE_HEADER + DEFAULT_VIA_ETH0.replace("0003", "0002")) is None


def test_mtu_auto_below_1500_adds_mtu_and_network_option(tmp_path: Path) -> None:
    """An outer MTU of 1360 should give --mtu 1360 and the default network option."""
    root = fake_root(tmp_path, DEFAULT_VIA_ETH0, {"eth0": 1360})
    decision, added, _note = mtu.apply("auto", None, [], None, root)
    assert (decision.value, decision.interface) == (1360, "eth0")
    assert added == ["--mtu", "1360", "--default-network-opt", NETWORK_OPTION + "1360"]


@pytest.mark.parametrize("value", [1500, 9000])
def test_mtu_auto_at_or_above_1500_changes_nothing(tmp_path: Path, value: int) -> None:
    """An outer MTU of 1500 or more should add nothing."""
    root = fake_root(tmp_path, DEFAULT_VIA_ETH0, {"eth0": value})
    decision, added, _note = mtu.apply("auto", None, [], None, root)
    assert decision.value is None and added == []
    assert str(value) in decision.reason


def test_mtu_auto_without_default_route_changes_nothing(tmp_path: Path) -> None:
    """With no default route, nothing should be added, and the reason should say so."""
    root = fake_root(tmp_path, LINK_ROUTE, {"eth0": 1360})
    decision, added, _note = mtu.apply("auto", None, [], None, root)
    assert added == [] and decision.reason == "no IPv4 default route"


def test_mtu_followed_link_replaces_the_default_route(tmp_path: Path) -> None:
    """A link to follow (rootless: tap0 at rootlesskit's MTU) should decide, not eth0's 1500."""
    root = fake_root(tmp_path, DEFAULT_VIA_ETH0, {"eth0": 1500})
    decision, added, _note = mtu.apply("auto", None, [], None, root, follow=("tap0", 1400))
    assert (decision.value, decision.interface) == (1400, "tap0")
    assert added[:2] == ["--mtu", "1400"]


def test_mtu_followed_link_still_yields_to_off(tmp_path: Path) -> None:
    """DOCKER_LAUNCH_MTU=off should win over a followed link too."""
    root = fake_root(tmp_path, DEFAULT_VIA_ETH0, {"eth0": 1500})
    decision, added, _note = mtu.apply("off", None, [], None, root, follow=("tap0", 1360))
    assert decision.value is None and added == []


def test_mtu_user_flag_wins(tmp_path: Path) -> None:
    """The user's dockerd --mtu should win over a low outer MTU."""
    root = fake_root(tmp_path, DEFAULT_VIA_ETH0, {"eth0": 1360})
    decision, added, _note = mtu.apply("auto", 1400, ["--mtu", "1400"], None, root)
    assert added == [] and "given by the user" in decision.reason


def test_mtu_daemon_json_wins(tmp_path: Path) -> None:
    """An "mtu" in daemon.json should win: dockerd refuses it given twice."""
    root = fake_root(tmp_path, DEFAULT_VIA_ETH0, {"eth0": 1360}, '{"mtu": 1400}')
    decision, added, _note = mtu.apply("auto", None, [], None, root)
    assert added == [] and decision.reason == "daemon.json sets mtu"


def test_mtu_daemon_json_network_opts_keeps_flag_out(tmp_path: Path) -> None:
    """default-network-opts in daemon.json should keep --mtu but add no network option flag."""
    root = fake_root(tmp_path, DEFAULT_VIA_ETH0, {"eth0": 1360}, '{"default-network-opts": {}}')
    _decision, added, note = mtu.apply("auto", None, [], None, root)
    assert added == ["--mtu", "1360"] and "daemon.json" in note


def test_mtu_user_network_option_is_kept(tmp_path: Path) -> None:
    """A user's own network MTU option should not be given a second time."""
    root = fake_root(tmp_path, DEFAULT_VIA_ETH0, {"eth0": 1360})
    user = ["--default-network-opt", NETWORK_OPTION + "1300"]
    _decision, added, _note = mtu.apply("auto", None, user, None, root)
    assert added == ["--mtu", "1360"]


def test_mtu_off_changes_nothing(tmp_path: Path) -> None:
    """DOCKER_LAUNCH_MTU=off should add nothing even below 1500."""
    root = fake_root(tmp_path, DEFAULT_VIA_ETH0, {"eth0": 1360})
    decision, added, _note = mtu.apply("off", None, [], None, root)
    assert added == [] and decision.reason == "DOCKER_LAUNCH_MTU=off"


def test_mtu_number_is_used_as_given(tmp_path: Path) -> None:
    """DOCKER_LAUNCH_MTU=N should pass N whatever the interface says."""
    root = fake_root(tmp_path, DEFAULT_VIA_ETH0, {"eth0": 1500})
    _decision, added, _note = mtu.apply(1410, None, [], None, root)
    assert added[:2] == ["--mtu", "1410"]


@pytest.mark.parametrize("value", ["", "fast", "67", "65536", "-1"])
def test_mtu_bad_setting_is_a_usage_error(value: str) -> None:
    """A setting that is neither auto, off nor an MTU should be a usage error with a hint."""
    with pytest.raises(UsageError) as raised:
        mtu.parse_setting(mtu.ENV, value)
    assert "auto, off" in (raised.value.hint or "")


def test_mtu_environment_twin_and_switch(tmp_path: Path) -> None:
    """DOCKER_LAUNCH_MTU and the launcher's --mtu should both set the rule; the switch wins."""
    dockerd = tmp_path / "dockerd"
    dockerd.write_text("#!/bin/sh\n")
    dockerd.chmod(0o755)
    env = {"PATH": str(tmp_path), "DOCKER_TLS_CERTDIR": "", mtu.ENV: "off"}
    assert parse([str(dockerd)], env).mtu_setting == "off"
    assert parse(["--mtu", "1410", str(dockerd)], env).mtu_setting == 1410
    options = parse(["--mtu=auto", str(dockerd), "--mtu", "1400"], env)
    assert (options.mtu_setting, options.mtu) == ("auto", 1400)
