"""The nested daemon's MTU: follow the interface of the default route when it is below 1500.

CI networks often run below 1500 (GitLab's hosted runners 1360, many Kubernetes overlays
1450 or 1410) while dockerd keeps 1500 for its bridges. A peer's full-size frames are then
dropped at layer 2 without any ICMP, and connections hang. dockerd's ``--mtu`` covers only
the default bridge; networks made later (``docker network create``, compose) need the
default network option as well. Decision, first match wins:

    the user's dockerd --mtu, or "mtu" in daemon.json    theirs: nothing added
    DOCKER_LAUNCH_MTU / launcher --mtu  off              nothing added
                                        N                --mtu N (+ network option)
                                        auto (default)   the default route's interface:
        no IPv4 default route, or its MTU unreadable     nothing added
        MTU >= 1500                                      nothing added
        MTU < 1500                                       --mtu MTU (+ network option)

    Rootless with slirp4netns or pasta, the tap device rootlesskit makes (tap0, at its
    --mtu) stands for the default route's interface: dockerd's traffic leaves by it.

    network option: --default-network-opt bridge=com.docker.network.driver.mtu=N, unless
    the user set that option already or daemon.json has "default-network-opts" (dockerd
    refuses a setting given both as a flag and in the file).

The default route comes from /proc/net/route and the MTU from /sys/class/net: two small
reads, no netlink library and no ``ip`` output to parse. The decision returns data; the
caller logs it and adds the arguments.
"""

from __future__ import annotations

from docker_from_scratch.launcher.errors import UsageError
from docker_from_scratch.requirements.paths import read_text, under
from docker_from_scratch.requirements.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

ENV = "DOCKER_LAUNCH_MTU"
ETHERNET_MTU = 1500
MIN_MTU, MAX_MTU = 68, 65535  # the kernel's IPv4 minimum; dockerd's upper bound
DEFAULT_CONFIG_FILE = "/etc/docker/daemon.json"
NETWORK_MTU_OPTION = "com.docker.network.driver.mtu"
ROUTE_FILE = "/proc/net/route"
RTF_UP = 0x1


class Decision(Record):
    """The MTU to give dockerd (None: add nothing), the interface it came from, and why."""

    __slots__ = ("value", "interface", "reason")

    def __init__(self, value: int | None, reason: str, interface: str | None = None) -> None:
        self.value = value
        self.reason = reason
        self.interface = interface

    def describe(self) -> str:
        where = f" from {self.interface}" if self.interface else ""
        what = f"{self.value}{where}" if self.value is not None else "dockerd's default"
        return f"mtu: {what} ({self.reason})"


def parse_setting(where: str, value: str) -> str | int:
    """``auto``, ``off`` or an MTU from DOCKER_LAUNCH_MTU or the launcher's ``--mtu``."""
    lowered = value.strip().lower()
    if lowered in ("auto", "off"):
        return lowered
    if lowered.isdigit() and MIN_MTU <= int(lowered) <= MAX_MTU:
        return int(lowered)
    hint = f"use auto, off or a number from {MIN_MTU} to {MAX_MTU}"
    raise UsageError(f"{where} {value!r} is not an MTU setting", hint=hint)


def default_route_interface(route_text: str) -> str | None:
    """The interface of the IPv4 default route with the lowest metric in /proc/net/route."""
    best: tuple[int, str] | None = None
    for line in route_text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        name, destination, flags, metric, mask = fields[0], fields[1], fields[3], fields[6], fields[7]
        try:
            up = int(flags, 16) & RTF_UP
            rank = int(metric)
        except ValueError:
            continue
        if destination == "00000000" and mask == "00000000" and up and (best is None or rank < best[0]):
            best = (rank, name)
    return None if best is None else best[1]


def interface_mtu(name: str, root: str = "/") -> int | None:
    text = read_text(under(root, f"/sys/class/net/{name}/mtu")).strip()
    return int(text) if text.isdigit() else None


def uplink(root: str = "/") -> tuple[str, int | None] | None:
    """The default route's interface and its MTU (None: unreadable); None without a default route."""
    interface = default_route_interface(read_text(under(root, ROUTE_FILE)))
    return None if interface is None else (interface, interface_mtu(interface, root))


def config_keys(config_file: str | None, root: str = "/") -> set[str]:
    """The top-level keys of dockerd's config file (none when it is missing or not JSON).

    A file dockerd cannot parse stops dockerd with its own message; here it only means
    "no MTU settings found".
    """
    path = under(root, config_file or DEFAULT_CONFIG_FILE)
    text = read_text(path)
    if not text.strip():
        return set()
    import json  # only when there is a file to read: json costs a few ms at start-up

    try:
        data = json.loads(text)
    except ValueError:
        return set()
    return set(data) if isinstance(data, dict) else set()


def sets_network_mtu(dockerd_args: Sequence[str]) -> bool:
    """Does the user pass --default-network-opt bridge=com.docker.network.driver.mtu=...?"""
    words = list(dockerd_args)
    for index, word in enumerate(words):
        value = None
        if word.startswith("--default-network-opt="):
            value = word.split("=", 1)[1]
        elif word == "--default-network-opt" and index + 1 < len(words):
            value = words[index + 1]
        if value is not None and f"{NETWORK_MTU_OPTION}=" in value:
            return True
    return False


def decide(
    setting: str | int, user_mtu: int | None, config: set[str], root: str = "/", follow: tuple[str, int] | None = None
) -> Decision:
    """The MTU for dockerd, by the table in the module docstring; ``follow`` names the
    link to follow instead of the default route's (rootless: rootlesskit's tap device,
    which exists only once rootlesskit runs)."""
    if user_mtu is not None:
        return Decision(None, f"dockerd --mtu {user_mtu} given by the user")
    if "mtu" in config:
        return Decision(None, "daemon.json sets mtu")
    if setting == "off":
        return Decision(None, f"{ENV}=off")
    if isinstance(setting, int):
        return Decision(setting, f"{ENV}={setting}")
    link = uplink(root) if follow is None else follow
    if link is None:
        return Decision(None, "no IPv4 default route")
    interface, found = link
    if found is None:
        return Decision(None, f"the MTU of {interface} is unreadable", interface)
    if found >= ETHERNET_MTU:
        return Decision(None, f"the default route's interface has {found}", interface)
    return Decision(found, f"the default route's interface has {found} < {ETHERNET_MTU}", interface)


def dockerd_arguments(decision: Decision, dockerd_args: Sequence[str], config: set[str]) -> tuple[list[str], str]:
    """The arguments to add for ``decision``, and a note on the network option for the log."""
    if decision.value is None:
        return [], ""
    added = ["--mtu", str(decision.value)]
    if sets_network_mtu(dockerd_args):
        return added, "networks: the user's --default-network-opt kept"
    if "default-network-opts" in config:
        return added, "networks: daemon.json has default-network-opts, no flag added"
    added += ["--default-network-opt", f"bridge={NETWORK_MTU_OPTION}={decision.value}"]
    return added, "networks: new bridge networks inherit it"


def apply(
    setting: str | int,
    user_mtu: int | None,
    dockerd_args: Sequence[str],
    config_file: str | None,
    root: str = "/",
    follow: tuple[str, int] | None = None,
) -> tuple[Decision, list[str], str]:
    """Decide and return (decision, arguments to add, note); reads daemon.json only when needed."""
    probe = decide(setting, user_mtu, set(), root, follow)
    if probe.value is None:
        return probe, [], ""
    config = config_keys(config_file, root)
    decision = decide(setting, user_mtu, config, root, follow)
    added, note = dockerd_arguments(decision, dockerd_args, config)
    return decision, added, note
