"""The launcher's command line: ``dockerlaunch [OPTIONS] DOCKER_BINARY [ARGS...]``.

Seed compatibility (RancherOS docker-from-scratch, 2015):

    ARGS as given                     what dockerd gets
    docker daemon -s overlay          -s overlay2  (leading "docker", "daemon" dropped)
    --bip 192.0.2.1/24 -b br0         -b br0       (the launcher creates br0 itself)
    --bip 192.0.2.1/24                --bip ...    (alone it sets docker0's address)
    -g /data                          --data-root /data  (-g/--graph left dockerd in 23.0)

The launcher's own options come before DOCKER_BINARY, each with an environment twin
(``--debug``/DOCKER_LAUNCH_DEBUG ...), so the image's ENTRYPOINT can stay fixed. Every
check here runs before anything is mounted: bad input changes nothing.
"""

from __future__ import annotations

import os

from docker_from_scratch.launcher import mtu
from docker_from_scratch.launcher.errors import UsageError
from docker_from_scratch.launcher.limits import DEFAULT_NOFILE
from docker_from_scratch.requirements.layout import DATA_ROOT
from docker_from_scratch.requirements.paths import DEFAULT_SEARCH_PATH, find_program, kernel_filesystems
from docker_from_scratch.requirements.record import Record

# Annotations only: importing typing, dataclasses and ipaddress at start-up costs ~15 ms,
# more than a third of the launcher's budget (bench/), so they load only when needed.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import ipaddress
    from collections.abc import Mapping, Sequence

USAGE = (
    "usage: dockerlaunch [--debug] [--reap|--no-reap] [--log-file PATH] [--nofile N]"
    " [--stop-grace S|off] [--stop-timeout S] [--mtu auto|off|N]"
    " DOCKER_BINARY [ARGS...]"
    " | dockerlaunch --health | dockerlaunch --stop-nested [S]"
)

# Storage drivers today's dockerd (26.x) knows; aufs left in 24.0, devicemapper in 25.0.
STORAGE_DRIVERS = ("overlay2", "fuse-overlayfs", "btrfs", "zfs", "vfs")
REMOVED_DRIVERS = {"aufs": "24.0", "devicemapper": "25.0"}

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class Switches(Record):
    """The launcher's own options (before DOCKER_BINARY) and their environment twins."""

    __slots__ = ("debug", "reap", "log_file", "nofile", "stop_grace", "stop_timeout", "mtu")

    def __init__(
        self,
        *,
        debug: bool = False,
        reap: bool | None = None,
        log_file: str | None = None,
        nofile: int = DEFAULT_NOFILE,
        stop_grace: int | str | None = None,
        stop_timeout: int | None = None,
        mtu: str | int = "auto",
    ) -> None:
        self.debug = debug
        self.reap = reap  # None: reap when PID 1
        self.log_file = log_file
        self.nofile = nofile
        self.stop_grace = stop_grace  # seconds, "off", or None: derived from the stop budget
        self.stop_timeout = stop_timeout  # the DinD container's stop budget, when given
        self.mtu = mtu  # the MTU rule (launcher/mtu.py): "auto", "off" or a number


class DockerdArgs(Record):
    """What :func:`interpret_dockerd_args` learned from dockerd's arguments, and those arguments."""

    __slots__ = ("args", "iptables", "bridge", "bridge_address", "mtu", "storage_driver", "data_root", "config_file",
                 "warnings")  # fmt: skip

    def __init__(
        self,
        *,
        args: list[str],
        iptables: bool = True,
        bridge: str | None = None,
        bridge_address: ipaddress.IPv4Interface | None = None,
        mtu: int | None = None,
        storage_driver: str | None = None,
        data_root: str = DATA_ROOT,
        config_file: str | None = None,
        warnings: list[str] | None = None,
    ) -> None:
        self.args = args  # what dockerd gets
        self.iptables = iptables
        self.bridge = bridge
        self.bridge_address = bridge_address  # set only when the launcher creates the bridge
        self.mtu = mtu  # the user's dockerd --mtu
        self.storage_driver = storage_driver
        self.data_root = data_root
        self.config_file = config_file
        self.warnings = [] if warnings is None else warnings


class LaunchOptions(Record):
    """Everything the launcher decided from argv and the environment, built once by :func:`parse`."""

    __slots__ = ("dockerd", "dockerd_args", "debug", "reap", "log_file", "nofile", "stop_grace", "stop_grace_asked",
                 "data_root", "config_file", "bridge", "bridge_address", "mtu", "mtu_setting", "iptables",
                 "storage_driver", "command", "tls_certdir", "tls_san", "socket_path", "plan_description",
                 "warnings")  # fmt: skip

    def __init__(
        self,
        *,
        dockerd: str,
        switches: Switches,
        learned: DockerdArgs,
        command: list[str] | None = None,
        tls_certdir: str | None = None,
        tls_san: str = "",
        socket_path: str | None = None,
        plan_description: str = "",
    ) -> None:
        self.dockerd = dockerd
        self.dockerd_args = learned.args
        self.debug = switches.debug
        self.reap = switches.reap  # None: reap when PID 1
        self.log_file = switches.log_file
        self.nofile = switches.nofile
        # Seconds nested containers get on SIGTERM before dockerd stops (None: off, dockerd
        # decides); by default derived from the DinD container's stop budget (stopgrace.py).
        self.stop_grace = resolve_stop_grace(switches.stop_grace, switches.stop_timeout)
        # set by the user (grace or budget), not the default
        self.stop_grace_asked = isinstance(switches.stop_grace, int) or switches.stop_timeout is not None
        self.data_root = learned.data_root
        self.config_file = learned.config_file
        self.bridge = learned.bridge
        self.bridge_address = learned.bridge_address  # set only when we create it
        self.mtu = learned.mtu  # the user's dockerd --mtu
        self.mtu_setting = switches.mtu  # the launcher's MTU rule (launcher/mtu.py)
        self.iptables = learned.iptables
        self.storage_driver = learned.storage_driver
        # Set when ARGS name another program (docker:dind's convention): run it, prepare nothing.
        self.command = command
        # docker:dind's TLS: make certificates here before dockerd starts (None: no TLS step).
        self.tls_certdir = tls_certdir
        self.tls_san = tls_san
        # The unix socket dockerd answers on, and why the arguments took their shape.
        self.socket_path = socket_path
        self.plan_description = plan_description
        self.warnings = list(learned.warnings)


def parse_bool(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise UsageError(f"{name}={value!r} is not a boolean", hint="use true or false")


def _env_bool(env: Mapping[str, str], name: str) -> bool | None:
    value = env.get(name, "")
    return parse_bool(name, value) if value else None


def _parse_stop_grace(where: str, value: str) -> int | str:
    if value.lower() == "off":
        return "off"
    if not value.isdigit() or int(value) > 3600:
        raise UsageError(
            f"{where} {value!r} is not a number of seconds", hint="give a whole number from 0 to 3600, or off"
        )
    return int(value)


def _parse_stop_timeout(where: str, value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 3600:
        raise UsageError(
            f"{where} {value!r} is not a number of seconds",
            hint="give the DinD container's --stop-timeout, a whole number from 1 to 3600",
        )
    return int(value)


def _parse_nofile(where: str, value: str) -> int:
    if not value.isdigit() or int(value) < 1024:
        raise UsageError(f"{where} {value!r} is not a file limit", hint="give a whole number >= 1024")
    return int(value)


def split_launcher_options(argv: Sequence[str], env: Mapping[str, str]) -> tuple[Switches, list[str]]:
    """Take the launcher's own options off the front of argv; the rest starts at DOCKER_BINARY."""
    # The environment twins first; an option in argv then overrides its twin.
    switches = Switches(
        debug=_env_bool(env, "DOCKER_LAUNCH_DEBUG") or False,
        reap=_env_bool(env, "DOCKER_LAUNCH_REAP"),
        log_file=env.get("DOCKER_LAUNCH_LOG_FILE") or None,
        nofile=_parse_nofile("DOCKER_LAUNCH_NOFILE", env["DOCKER_LAUNCH_NOFILE"])
        if env.get("DOCKER_LAUNCH_NOFILE")
        else DEFAULT_NOFILE,
        stop_grace=_parse_stop_grace("DOCKER_LAUNCH_STOP_GRACE", env["DOCKER_LAUNCH_STOP_GRACE"])
        if env.get("DOCKER_LAUNCH_STOP_GRACE")
        else None,
        stop_timeout=_parse_stop_timeout("DOCKER_LAUNCH_STOP_TIMEOUT", env["DOCKER_LAUNCH_STOP_TIMEOUT"])
        if env.get("DOCKER_LAUNCH_STOP_TIMEOUT")
        else None,
        mtu=mtu.parse_setting(mtu.ENV, env[mtu.ENV]) if env.get(mtu.ENV) else "auto",
    )
    rest = list(argv)
    while rest and rest[0].startswith("--"):
        option, has_value, value = rest[0].partition("=")
        if option in ("--debug", "--reap") and has_value:
            # --debug=false must not mean "debug on": the value is read, not ignored.
            if option == "--debug":
                switches.debug = parse_bool(option, value)
            else:
                switches.reap = parse_bool(option, value)
        elif option == "--no-reap" and has_value:
            raise UsageError("--no-reap takes no value", hint="use --no-reap, or --reap=false")
        elif option == "--debug":
            switches.debug = True
        elif option == "--reap":
            switches.reap = True
        elif option == "--no-reap":
            switches.reap = False
        elif option in ("--log-file", "--nofile", "--stop-grace", "--stop-timeout", "--mtu"):
            if not has_value:
                if len(rest) < 2:
                    raise UsageError(f"{option} needs a value", hint=USAGE)
                value = rest.pop(1)
            if option == "--log-file":
                switches.log_file = value
            elif option == "--stop-grace":
                switches.stop_grace = _parse_stop_grace(option, value)
            elif option == "--stop-timeout":
                switches.stop_timeout = _parse_stop_timeout(option, value)
            elif option == "--mtu":
                switches.mtu = mtu.parse_setting(option, value)
            else:
                switches.nofile = _parse_nofile(option, value)
        elif option == "--help":
            raise UsageError("help requested", hint=USAGE)
        else:
            break
        rest.pop(0)
    return switches, rest


def resolve_dockerd(binary: str, env: Mapping[str, str]) -> str:
    """The dockerd to run: the seed named /usr/bin/docker, which is only the client today."""
    search_path = env.get("PATH", DEFAULT_SEARCH_PATH)
    name = os.path.basename(binary)
    first: str | None = binary if "/" in binary else None
    if name == "docker":
        # `docker daemon` is gone; dockerd usually sits beside the client or in sbin. A bare
        # `docker` has no directory to look beside: only PATH, never the working directory.
        first = os.path.join(os.path.dirname(binary), "dockerd") if first else None
        name = "dockerd"
    # X.dist stands in for a missing X (the seed's fallback); the files step links it.
    found = (first and find_program(first, dist=True)) or find_program(name, search_path, dist=True)
    if found is None:
        raise UsageError(
            f"cannot find dockerd for DOCKER_BINARY {binary!r}",
            hint="pass the path of dockerd, e.g. dockerlaunch /usr/bin/dockerd",
        )
    return found.removesuffix(".dist")


def drop_seed_words(args: list[str]) -> list[str]:
    """Drop the seed's `docker daemon` words: today's dockerd has no such subcommand.

        ARGS                  becomes
        docker daemon ...     ...            (the seed's CMD)
        daemon ...            ...
        docker ps ...         docker ps ...  (docker:dind's convention: run the client)

    The seed dropped a leading "docker" whatever followed; here it goes only together
    with "daemon", so that `docker run IMAGE docker ps` still runs the client.
    """
    if args[:2] == ["docker", "daemon"]:
        return args[2:]
    if args[:1] == ["daemon"]:
        return args[1:]
    return args


def _take_value(args: list[str], index: int, option: str) -> tuple[str, int]:
    """Value of the option at args[index] (``--opt=v`` or ``--opt v``) and how many tokens it used."""
    token = args[index]
    if token.startswith(option + "="):
        return token[len(option) + 1 :], 1
    following = args[index + 1] if index + 1 < len(args) else None
    if following is None or (following.startswith("-") and not following.lstrip("-").isdigit()):
        raise UsageError(f"{option} needs a value", hint=f"e.g. {option} {_EXAMPLES.get(option, 'VALUE')}")
    return following, 2


_EXAMPLES = {
    "-b": "br0",
    "--bridge": "br0",
    "--bip": "192.0.2.1/24",
    "--mtu": "1500",
    "-s": "overlay2",
    "--storage-driver": "overlay2",
    "--data-root": DATA_ROOT,
    "-g": DATA_ROOT,
    "--graph": DATA_ROOT,
    "--config-file": "/etc/docker/daemon.json",
}
_OPTION_OF = {
    "-b": "bridge",
    "--bridge": "bridge",
    "--bip": "bip",
    "--mtu": "mtu",
    "-s": "storage",
    "--storage-driver": "storage",
    "--data-root": "data_root",
    "-g": "data_root",
    "--graph": "data_root",
    "--config-file": "config_file",
}


def _option_name(token: str) -> str | None:
    if token.startswith("--"):
        name = token.split("=", 1)[0]
    elif len(token) >= 2 and token[0] == "-" and token[1] in "bsg":
        name = token[:2]
        if len(token) > 2 and token[2] != "=":
            return None  # e.g. -bogus: not ours, dockerd will judge it
    else:
        return None
    return name if name in _OPTION_OF else None


def _check_storage_driver(driver: str, warnings: list[str], filesystems: set[str] | None) -> str:
    if driver == "overlay":
        warnings.append("storage driver overlay left dockerd in 24.0: using overlay2")
        return "overlay2"
    if driver == "aufs":
        known = kernel_filesystems() if filesystems is None else filesystems  # read only for aufs
        where = "this kernel" if "aufs" not in known else "today's dockerd"
        raise UsageError(f"storage driver aufs is not available on {where}", hint="use -s overlay2")
    if driver in REMOVED_DRIVERS:
        raise UsageError(
            f"storage driver {driver} was removed from dockerd in {REMOVED_DRIVERS[driver]}",
            hint="use -s overlay2",
        )
    if driver not in STORAGE_DRIVERS:
        raise UsageError(f"unknown storage driver {driver!r}", hint=f"use one of {', '.join(STORAGE_DRIVERS)}")
    return driver


def _check_mtu(value: str) -> int:
    if not value.isdigit() or not 68 <= int(value) <= 65535:
        raise UsageError(f"--mtu {value!r} is not an MTU", hint="give a whole number from 68 to 65535")
    return int(value)


def _check_bip(value: str) -> ipaddress.IPv4Interface:
    import ipaddress

    try:
        interface = ipaddress.ip_interface(value)
    except ValueError:
        interface = None
    if not isinstance(interface, ipaddress.IPv4Interface) or "/" not in value:
        raise UsageError(f"--bip {value!r} is not an IPv4 address with a prefix", hint="e.g. --bip 192.0.2.1/24")
    if interface.ip == interface.network.network_address or interface.network.prefixlen > 30:
        raise UsageError(f"--bip {value!r} leaves no room for containers", hint="e.g. --bip 192.0.2.1/24")
    return interface


def interpret_dockerd_args(args: list[str], filesystems: set[str] | None = None) -> DockerdArgs:
    """Validate and rewrite the options the launcher acts on; pass everything else through.

    Returns the arguments dockerd gets and what they told the launcher. ``filesystems``
    stands in for /proc/filesystems, which is read only when ``-s aufs`` asks for it.
    """
    learned = DockerdArgs(args=[])  # this call's own answer, filled as the walk goes
    out = learned.args
    bip: ipaddress.IPv4Interface | None = None
    bip_index: int | None = None
    index = 0
    while index < len(args):
        token = args[index]
        if token == "--":
            out.extend(args[index:])
            break
        if token.startswith("--iptables="):
            learned.iptables = parse_bool("--iptables", token.split("=", 1)[1])
        name = _option_name(token)
        if name is None:
            out.append(token)
            index += 1
            continue
        value, used = _take_value(args, index, name)
        kind = _OPTION_OF[name]
        if kind == "bridge":
            learned.bridge = value
            out += [name, value]
        elif kind == "bip":
            bip, bip_index = _check_bip(value), len(out)
            out += [name, value]
        elif kind == "mtu":
            learned.mtu = _check_mtu(value)
            out += [name, value]
        elif kind == "storage":
            learned.storage_driver = _check_storage_driver(value, learned.warnings, filesystems)
            out += ["--storage-driver", learned.storage_driver]
        elif kind == "data_root":
            if name != "--data-root":
                learned.warnings.append(f"{name} left dockerd in 23.0: passing --data-root {value}")
            learned.data_root = value
            out += ["--data-root", value]
        elif kind == "config_file":
            learned.config_file = value
            out += [name, value]
        index += used
    if bip is not None and learned.bridge is not None:
        if learned.bridge == "none":
            raise UsageError("--bip and -b none contradict each other", hint="drop --bip, or name a bridge with -b")
        # The launcher creates the bridge with this address; dockerd gets only -b NAME,
        # because dockerd refuses --bip together with -b.
        learned.bridge_address = bip
        assert bip_index is not None
        del out[bip_index : bip_index + 2]
    return learned


def resolve_stop_grace(grace: int | str | None, budget: int | None) -> int | None:
    """The stop grace asked for, else the one derived from the stop budget; None when off."""
    if grace == "off":
        return None
    if isinstance(grace, int):
        return grace
    from docker_from_scratch.launcher import stopgrace

    return stopgrace.grace_for_budget(stopgrace.DEFAULT_BUDGET_S if budget is None else budget)


def parse(argv: Sequence[str], env: Mapping[str, str]) -> LaunchOptions:
    """Parse ``dockerlaunch``'s argv (without argv[0]) and its environment twins.

    Every value is parsed and checked first; the options are then built once from them.
    """
    switches, rest = split_launcher_options(argv, env)
    if not rest:
        raise UsageError("missing DOCKER_BINARY", hint=USAGE)
    dockerd = resolve_dockerd(rest[0], env)
    from docker_from_scratch.launcher import dind

    plan = dind.plan(drop_seed_words(list(rest[1:])), env, dockerd=dockerd)
    if plan.action == "exec":
        return LaunchOptions(
            dockerd=dockerd,
            switches=switches,
            learned=DockerdArgs(args=[]),
            command=list(plan.argv),
            plan_description=plan.describe(),
        )
    if plan.argv[0] != dockerd:
        dockerd = resolve_dockerd(plan.argv[0], env)  # `IMAGE dockerd --debug`
    return LaunchOptions(
        dockerd=dockerd,
        switches=switches,
        learned=interpret_dockerd_args(list(plan.argv[1:])),
        tls_certdir=plan.tls_certdir,
        tls_san=plan.tls_san,
        socket_path=plan.socket_path,
        plan_description=plan.describe(),
    )
