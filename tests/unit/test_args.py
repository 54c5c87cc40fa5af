"""The launcher's command line: seed compatibility, mapping, and usage errors."""

import ipaddress
import os
from pathlib import Path
from typing import Any

import pytest

from docker_from_scratch.launcher import args as args_module
from docker_from_scratch.launcher.args import DockerdArgs, interpret_dockerd_args, parse
from docker_from_scratch.launcher.errors import UsageError


@pytest.fixture
def fake_bin(tmp_path: Path) -> dict[str, str]:
    """A PATH with executable docker and dockerd files, like the image's /usr/bin and /usr/sbin."""
    bindir, sbindir = tmp_path / "bin", tmp_path / "sbin"
    bindir.mkdir()
    sbindir.mkdir()
    for path in (bindir / "docker", sbindir / "dockerd"):
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    return {"PATH": f"{sbindir}:{bindir}"}


def interpret(*tokens: str, filesystems: frozenset[str] = frozenset({"overlay"})) -> tuple[list[str], DockerdArgs]:
    learned = interpret_dockerd_args(list(tokens), set(filesystems))
    return learned.args, learned


def test_seed_docker_binary_runs_dockerd(fake_bin: dict[str, str]) -> None:
    """`dockerlaunch /usr/bin/docker daemon -s overlay` should run dockerd with overlay2."""
    docker = os.path.join(fake_bin["PATH"].split(":")[1], "docker")
    options = parse([docker, "daemon", "-s", "overlay"], fake_bin)
    assert options.dockerd.endswith("/sbin/dockerd")
    assert options.dockerd_args[-2:] == ["--storage-driver", "overlay2"]
    assert any("overlay2" in warning for warning in options.warnings)


def test_seed_leading_docker_word_is_dropped(fake_bin: dict[str, str]) -> None:
    """A leading `docker daemon` in ARGS should be dropped as the seed did."""
    options = parse(["dockerd", "docker", "daemon", "--debug"], fake_bin)
    assert options.dockerd_args[-1] == "--debug"
    assert "docker" not in options.dockerd_args and "daemon" not in options.dockerd_args


def test_missing_docker_binary_is_usage_error() -> None:
    """No DOCKER_BINARY should be a usage error (exit 2) that shows the usage."""
    with pytest.raises(UsageError) as info:
        parse([], {"PATH": "/nonexistent"})
    assert info.value.exit_status == 2
    assert "DOCKER_BINARY" in info.value.one_line()


def test_unknown_docker_binary_names_the_fix() -> None:
    """A DOCKER_BINARY that does not exist should name the dockerd path to pass."""
    with pytest.raises(UsageError, match="cannot find dockerd") as info:
        parse(["/nowhere/dockerd"], {"PATH": "/nonexistent"})
    assert "dockerlaunch /usr/bin/dockerd" in info.value.one_line()


def test_bip_with_bridge_is_taken_by_the_launcher() -> None:
    """--bip with -b should make the launcher create the bridge and pass only -b on."""
    args, options = interpret("--bip", "192.0.2.1/24", "-b", "br-test", "--mtu=1400")
    assert args == ["-b", "br-test", "--mtu", "1400"]
    assert options.bridge_address == ipaddress.ip_interface("192.0.2.1/24")
    assert options.mtu == 1400


@pytest.mark.parametrize("form", [["--bip=192.0.2.1/24"], ["--bip", "192.0.2.1/24"]])
def test_bip_alone_is_passed_on(form: list[str]) -> None:
    """--bip without -b should reach dockerd unchanged (it sets docker0's address)."""
    args, options = interpret(*form)
    assert args == ["--bip", "192.0.2.1/24"]
    assert options.bridge_address is None


@pytest.mark.parametrize("bad", ["192.0.2.1", "192.0.2.300/24", "not-an-ip/8", "192.0.2.0/24", "2001:db8::1/64"])
def test_bad_bip_is_usage_error(bad: str) -> None:
    """An unusable --bip should be a one-line usage error with an example."""
    with pytest.raises(UsageError, match="--bip") as info:
        interpret("--bip", bad, "-b", "br0")
    assert "192.0.2.1/24" in info.value.one_line()


@pytest.mark.parametrize("bad", ["0", "67", "65536", "abc", "-5", "1500.5"])
def test_bad_mtu_is_usage_error(bad: str) -> None:
    """--mtu outside 68..65535 should be refused, unlike the seed's silently ignored MTU."""
    with pytest.raises(UsageError, match=r"MTU|needs a value"):
        interpret(f"--mtu={bad}")


@pytest.mark.parametrize("tokens", [["-b"], ["--bridge"], ["-b", "--debug"], ["--bip"]])
def test_option_without_value_is_usage_error(tokens: list[str]) -> None:
    """-b, --bridge or --bip with no value should say that a value is needed."""
    with pytest.raises(UsageError, match="needs a value"):
        interpret(*tokens)


def test_bip_with_bridge_none_contradicts() -> None:
    """--bip together with -b none should be refused as contradictory."""
    with pytest.raises(UsageError, match="contradict"):
        interpret("--bip", "192.0.2.1/24", "-b", "none")


def test_aufs_without_kernel_support_names_overlay2() -> None:
    """-s aufs on a kernel without aufs should fail with an error naming overlay2."""
    with pytest.raises(UsageError, match="aufs") as info:
        interpret("-s", "aufs", filesystems=frozenset({"overlay"}))
    assert "overlay2" in info.value.one_line()


@pytest.mark.parametrize("driver", ["btrfsx", "devicemapper", "zfs2"])
def test_unknown_storage_driver_is_usage_error(driver: str) -> None:
    """A storage driver dockerd does not know should be refused before anything runs."""
    with pytest.raises(UsageError, match="storage driver"):
        interpret(f"--storage-driver={driver}")


def test_graph_maps_to_data_root() -> None:
    """-g and --graph (gone from dockerd) should become --data-root and set the data root."""
    args, options = interpret("-g", "/data/docker")
    assert args == ["--data-root", "/data/docker"]
    assert options.data_root == "/data/docker"


def test_iptables_false_is_noticed_and_passed_on() -> None:
    """--iptables=false should turn the iptables step off and still reach dockerd."""
    args, options = interpret("--iptables=false")
    assert args == ["--iptables=false"]
    assert options.iptables is False


def test_other_options_pass_through_untouched() -> None:
    """Options the launcher does not act on should reach dockerd in order."""
    tokens = ["--debug", "-H", "unix:///run/x.sock", "--label", "a=b", "--bogus"]
    args, _ = interpret(*tokens)
    assert args == tokens


def test_launcher_options_and_environment_twins(fake_bin: dict[str, str]) -> None:
    """--debug/--reap/--log-file should win over DOCKER_LAUNCH_* and not reach dockerd."""
    env = {**fake_bin, "DOCKER_LAUNCH_REAP": "false", "DOCKER_LAUNCH_NOFILE": "4096"}
    options = parse(["--debug", "--reap", "--log-file=/tmp/x.log", "dockerd", "--debug"], env)
    assert (options.debug, options.reap, options.log_file, options.nofile) == (True, True, "/tmp/x.log", 4096)
    assert options.dockerd_args[-1] == "--debug"
    assert "--reap" not in options.dockerd_args and "--log-file=/tmp/x.log" not in options.dockerd_args


def test_bad_boolean_environment_is_usage_error(fake_bin: dict[str, str]) -> None:
    """DOCKER_LAUNCH_REAP=maybe should be refused with the accepted values."""
    with pytest.raises(UsageError, match="DOCKER_LAUNCH_REAP"):
        parse(["dockerd"], {**fake_bin, "DOCKER_LAUNCH_REAP": "maybe"})


def test_other_command_is_run_instead_of_dockerd(fake_bin: dict[str, str]) -> None:
    """A first argument that is no option (docker:dind's convention) should name a command."""
    options = parse(["/usr/bin/dockerd", "sh", "-c", "echo hi"], fake_bin)
    assert options.command == ["sh", "-c", "echo hi"]


def test_no_args_get_dind_default_hosts_with_tls(fake_bin: dict[str, str]) -> None:
    """Without ARGS dockerd should listen on the unix socket and on 2376 with TLS from /certs."""
    options = parse(["dockerd"], fake_bin)
    hosts = ["--host=unix:///var/run/docker.sock", "--host=tcp://0.0.0.0:2376", "--tlsverify"]
    assert options.dockerd_args[:3] == hosts
    assert options.tls_certdir == "/certs"


def test_empty_tls_certdir_listens_on_2375_without_tls(fake_bin: dict[str, str]) -> None:
    """DOCKER_TLS_CERTDIR='' should give tcp://0.0.0.0:2375 and no certificate step."""
    options = parse(["dockerd", "--debug"], {**fake_bin, "DOCKER_TLS_CERTDIR": ""})
    assert options.dockerd_args[:2] == ["--host=unix:///var/run/docker.sock", "--host=tcp://0.0.0.0:2375"]
    assert options.dockerd_args[-1] == "--debug" and "--tlsverify" not in options.dockerd_args
    assert options.tls_certdir is None


def test_dockerd_word_in_args_keeps_user_options_after_defaults(fake_bin: dict[str, str]) -> None:
    """`IMAGE dockerd --debug` should run the resolved dockerd with defaults, then --debug."""
    options = parse(["/usr/bin/dockerd", "dockerd", "--debug"], {**fake_bin, "DOCKER_TLS_CERTDIR": ""})
    assert options.dockerd.endswith("/sbin/dockerd")
    assert options.dockerd_args[-1] == "--debug" and options.command is None


def test_dist_fallback_counts_as_dockerd(tmp_path: Path) -> None:
    """A dockerd.dist beside a missing dockerd should be accepted (the launcher links it)."""
    dist = tmp_path / "dockerd.dist"
    dist.write_text("#!/bin/sh\n")
    dist.chmod(0o755)
    options = parse([os.fspath(tmp_path / "dockerd"), "--debug"], {"PATH": os.fspath(tmp_path)})
    assert options.dockerd == os.fspath(tmp_path / "dockerd")


@pytest.mark.parametrize("command", [["docker", "ps"], ["docker", "version"], ["docker", "-H", "unix:///x", "ps"]])
def test_docker_client_command_runs_the_client(fake_bin: dict[str, str], command: list[str]) -> None:
    """`IMAGE docker ...` (not `docker daemon`) should run the docker client, not dockerd."""
    options = parse(["/usr/bin/dockerd", *command], fake_bin)
    assert options.command == command


def test_interpret_dockerd_args_returns_what_it_learned_and_changes_nothing() -> None:
    """interpret_dockerd_args should leave its input list alone and give the same answer twice."""
    tokens = ["--bip", "192.0.2.1/24", "-b", "br-test", "-g", "/data", "--iptables=false", "--debug"]
    first = interpret_dockerd_args(tokens, {"overlay"})
    assert tokens == ["--bip", "192.0.2.1/24", "-b", "br-test", "-g", "/data", "--iptables=false", "--debug"]
    assert first == interpret_dockerd_args(list(tokens), {"overlay"})
    assert (first.bridge, first.data_root, first.iptables) == ("br-test", "/data", False)
    assert first.args == ["-b", "br-test", "--data-root", "/data", "--iptables=false", "--debug"]


def test_interpret_dockerd_args_checks_bip_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """--bip with -b should be parsed and checked once, the address kept from that one check."""
    calls: list[str] = []
    check = args_module._check_bip

    def counted(value: str) -> ipaddress.IPv4Interface:
        calls.append(value)
        return check(value)

    monkeypatch.setattr(args_module, "_check_bip", counted)
    learned = interpret_dockerd_args(["--bip", "192.0.2.1/24", "-b", "br-test"], {"overlay"})
    assert calls == ["192.0.2.1/24"] and learned.bridge_address == ipaddress.ip_interface("192.0.2.1/24")


def test_interpret_dockerd_args_reads_proc_filesystems_only_for_aufs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without -s aufs, /proc/filesystems should not be read at all; with it, it should be."""
    reads: list[str] = []
    monkeypatch.setattr(args_module, "kernel_filesystems", lambda: reads.append("read") or {"overlay"})
    interpret_dockerd_args(["-s", "overlay2", "--storage-driver=vfs", "--debug"])
    assert reads == []
    with pytest.raises(UsageError, match="aufs is not available on this kernel"):
        interpret_dockerd_args(["-s", "aufs"])
    assert reads == ["read"]


def test_parse_builds_equal_options_from_equal_input(fake_bin: dict[str, str]) -> None:
    """parse should build its options from values alone: the same argv and environment, equal options."""
    argv = ["--nofile", "4096", "dockerd", "--bip", "192.0.2.1/24", "-b", "br-test", "-s", "overlay"]
    first, second = parse(argv, fake_bin), parse(list(argv), dict(fake_bin))
    assert first == second and first is not second
    assert first.bridge_address == ipaddress.ip_interface("192.0.2.1/24") and first.nofile == 4096


def test_bare_docker_binary_looks_for_dockerd_on_path_only(
    fake_bin: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """DOCKER_BINARY `docker` should look for dockerd on PATH only, never at ./dockerd or /dockerd."""
    asked: list[str] = []
    find = args_module.find_program

    def recorded(name: str, search_path: str | None = None, **kwargs: Any) -> str | None:
        asked.append(name)
        return find(name, search_path, **kwargs)

    monkeypatch.setattr(args_module, "find_program", recorded)
    options = parse(["docker", "daemon"], fake_bin)
    assert asked == ["dockerd"] and options.dockerd.endswith("/sbin/dockerd")
