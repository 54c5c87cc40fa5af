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


class LaunchOptions:
    """Everything the launcher decided from argv and the environment."""

    def __init__(self, dockerd: str, dockerd_args: list[str]) -> None:
        self.dockerd = dockerd
        self.dockerd_args = dockerd_args
        self.debug = False
        self.reap: bool | None = None  # None: reap when PID 1
        self.log_file: str | None = None
        self.nofile = DEFAULT_NOFILE
        # Seconds nested containers get on SIGTERM before dockerd stops (None: off, dockerd
        # decides); by default derived from the DinD container's stop budget (stopgrace.py).
        self.stop_grace: int | None = None
        self.stop_grace_asked = False  # set by the user (grace or budget), not the default
        self.data_root = DATA_ROOT
        self.config_file: str | None = None
        self.bridge: str | None = None
        self.bridge_address: ipaddress.IPv4Interface | None = None  # set only when we create it
        self.mtu: int | None = None  # the user's dockerd --mtu
        # The launcher's MTU rule (launcher/mtu.py): "auto", "off" or a number.
        self.mtu_setting: str | int = "auto"
        self.iptables = True
        self.storage_driver: str | None = None
        # Set when ARGS name another program (docker:dind's convention): run it, prepare nothing.
        self.command: list[str] | None = None
        # docker:dind's TLS: make certificates here before dockerd starts (None: no TLS step).
        self.tls_certdir: str | None = None
        self.tls_san = ""
        # The unix socket dockerd answers on, and why the arguments took their shape.
        self.socket_path: str | None = None
        self.plan_description = ""
        self.warnings: list[str] = []

    def __repr__(self) -> str:
        return f"LaunchOptions({vars(self)})"


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


def split_launcher_options(
    argv: Sequence[str], env: Mapping[str, str]
) -> tuple[dict[str, object], list[str]]:
    """Take the launcher's own options off the front of argv; the rest starts at DOCKER_BINARY."""
    found: dict[str, object] = {
        "debug": _env_bool(env, "DOCKER_LAUNCH_DEBUG") or False,
        "reap": _env_bool(env, "DOCKER_LAUNCH_REAP"),
        "log_file": env.get("DOCKER_LAUNCH_LOG_FILE") or None,
        "nofile": _parse_nofile("DOCKER_LAUNCH_NOFILE", env["DOCKER_LAUNCH_NOFILE"])
        if env.get("DOCKER_LAUNCH_NOFILE")
        else DEFAULT_NOFILE,
        "stop_grace": _parse_stop_grace("DOCKER_LAUNCH_STOP_GRACE", env["DOCKER_LAUNCH_STOP_GRACE"])
        if env.get("DOCKER_LAUNCH_STOP_GRACE")
        else None,
        "stop_timeout": _parse_stop_timeout("DOCKER_LAUNCH_STOP_TIMEOUT", env["DOCKER_LAUNCH_STOP_TIMEOUT"])
        if env.get("DOCKER_LAUNCH_STOP_TIMEOUT")
        else None,
        "mtu": mtu.parse_setting(mtu.ENV, env[mtu.ENV]) if env.get(mtu.ENV) else "auto",
    }
    rest = list(argv)
    while rest and rest[0].startswith("--"):
        option, has_value, value = rest[0].partition("=")
        if option in ("--debug", "--reap") and has_value:
            # --debug=false must not mean "debug on": the value is read, not ignored.
            found[option[2:]] = parse_bool(option, value)
        elif option == "--no-reap" and has_value:
            raise UsageError("--no-reap takes no value", hint="use --no-reap, or --reap=false")
        elif option == "--debug":
            found["debug"] = True
        elif option == "--reap":
            found["reap"] = True
        elif option == "--no-reap":
            found["reap"] = False
        elif option in ("--log-file", "--nofile", "--stop-grace", "--stop-timeout", "--mtu"):
            if not has_value:
                if len(rest) < 2:
                    raise UsageError(f"{option} needs a value", hint=USAGE)
                value = rest.pop(1)
            if option == "--log-file":
                found["log_file"] = value
            elif option == "--stop-grace":
                found["stop_grace"] = _parse_stop_grace(option, value)
            elif option == "--stop-timeout":
                found["stop_timeout"] = _parse_stop_timeout(option, value)
            elif option == "--mtu":
                found["mtu"] = mtu.parse_setting(option, value)
            else:
                found["nofile"] = _parse_nofile(option, value)
        elif option == "--help":
            raise UsageError("help requested", hint=USAGE)
        else:
            break
        rest.pop(0)
    return found, rest


def resolve_dockerd(binary: str, env: Mapping[str, str]) -> str:
    """The dockerd to run: the seed named /usr/bin/docker, which is only the client today."""
    search_path = env.get("PATH", DEFAULT_SEARCH_PATH)
    name = os.path.basename(binary)
    first: str | None = binary if "/" in binary else None
    if name == "docker":
        # `docker daemon` is gone; dockerd usually sits beside the client or in sbin.
        first, name = os.path.join(os.path.dirname(binary) or ".", "dockerd"), "dockerd"
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


def interpret_dockerd_args(
    args: list[str], options: LaunchOptions, filesystems: set[str] | None = None
) -> list[str]:
    """Validate and rewrite the options the launcher acts on; pass everything else through."""
    out: list[str] = []
    bip: str | None = None
    bip_index: int | None = None
    index = 0
    while index < len(args):
        token = args[index]
        if token == "--":
            out.extend(args[index:])
            break
        if token.startswith("--iptables="):
            options.iptables = parse_bool("--iptables", token.split("=", 1)[1])
        name = _option_name(token)
        if name is None:
            out.append(token)
            index += 1
            continue
        value, used = _take_value(args, index, name)
        kind = _OPTION_OF[name]
        if kind == "bridge":
            options.bridge = value
            out += [name, value]
        elif kind == "bip":
            bip, bip_index = value, len(out)
            _check_bip(value)
            out += [name, value]
        elif kind == "mtu":
            options.mtu = _check_mtu(value)
            out += [name, value]
        elif kind == "storage":
            options.storage_driver = _check_storage_driver(value, options.warnings, filesystems)
            out += ["--storage-driver", options.storage_driver]
        elif kind == "data_root":
            if name != "--data-root":
                options.warnings.append(f"{name} left dockerd in 23.0: passing --data-root {value}")
            options.data_root = value
            out += ["--data-root", value]
        elif kind == "config_file":
            options.config_file = value
            out += [name, value]
        index += used
    if bip is not None and options.bridge is not None:
        if options.bridge == "none":
            raise UsageError("--bip and -b none contradict each other", hint="drop --bip, or name a bridge with -b")
        # The launcher creates the bridge with this address; dockerd gets only -b NAME,
        # because dockerd refuses --bip together with -b.
        options.bridge_address = _check_bip(bip)
        assert bip_index is not None
        del out[bip_index : bip_index + 2]
    return out


def resolve_stop_grace(grace: object, budget: object) -> int | None:
    """The stop grace asked for, else the one derived from the stop budget; None when off."""
    if grace == "off":
        return None
    if isinstance(grace, int):
        return grace
    from docker_from_scratch.launcher import stopgrace

    return stopgrace.grace_for_budget(budget if isinstance(budget, int) else stopgrace.DEFAULT_BUDGET_S)


def parse(argv: Sequence[str], env: Mapping[str, str]) -> LaunchOptions:
    """Parse ``dockerlaunch``'s argv (without argv[0]) and its environment twins."""
    found, rest = split_launcher_options(argv, env)
    if not rest:
        raise UsageError("missing DOCKER_BINARY", hint=USAGE)
    dockerd = resolve_dockerd(rest[0], env)
    options = LaunchOptions(dockerd=dockerd, dockerd_args=[])
    options.debug = bool(found["debug"])
    reap = found["reap"]
    options.reap = reap if isinstance(reap, bool) else None
    log_file = found["log_file"]
    options.log_file = log_file if isinstance(log_file, str) else None
    nofile = found["nofile"]
    options.nofile = nofile if isinstance(nofile, int) else DEFAULT_NOFILE
    options.stop_grace = resolve_stop_grace(found["stop_grace"], found["stop_timeout"])
    options.stop_grace_asked = isinstance(found["stop_grace"], int) or found["stop_timeout"] is not None
    setting = found["mtu"]
    options.mtu_setting = setting if isinstance(setting, (str, int)) else "auto"
    from docker_from_scratch.launcher import dind

    plan = dind.plan(drop_seed_words(list(rest[1:])), env, dockerd=dockerd)
    options.plan_description = plan.describe()
    if plan.action == "exec":
        options.command = list(plan.argv)
        return options
    if plan.argv[0] != dockerd:
        options.dockerd = resolve_dockerd(plan.argv[0], env)  # `IMAGE dockerd --debug`
    options.tls_certdir, options.tls_san, options.socket_path = plan.tls_certdir, plan.tls_san, plan.socket_path
    options.dockerd_args = interpret_dockerd_args(list(plan.argv[1:]), options)
    return options
