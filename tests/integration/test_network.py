"""The custom bridge (--bip with -b) and IP forwarding, for real in a throw-away netns."""

import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.integration


def in_netns(code: str) -> subprocess.CompletedProcess[str]:
    """Run Python code in a new network namespace (nothing leaves it, nothing is left)."""
    return subprocess.run(
        ["unshare", "--net", sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


PRELUDE = """
import ipaddress, json, subprocess
from docker_from_scratch.launcher import network, log
log.set_debug(True)
def link(name):
    out = subprocess.run(["ip", "-j", "-d", "addr", "show", name], capture_output=True, text=True)
    return json.loads(out.stdout)[0] if out.returncode == 0 else None
"""


def test_bridge_is_created_with_address_mtu_and_up() -> None:
    """--bip with -b should give a bridge NAME, up, with that address and MTU."""
    result = in_netns(PRELUDE + """
with network.bridge("br-test", ipaddress.ip_interface("192.0.2.1/24"), 1400):
    print(json.dumps(link("br-test")))
""")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["linkinfo"]["info_kind"] == "bridge"
    assert info["mtu"] == 1400
    assert "UP" in info["flags"]
    assert {"local": "192.0.2.1", "prefixlen": 24} in [
        {"local": a["local"], "prefixlen": a["prefixlen"]} for a in info["addr_info"]
    ]


def test_bridge_second_run_changes_nothing() -> None:
    """A second launch with the same bridge should reuse it and add no second address."""
    result = in_netns(PRELUDE + """
for _ in range(2):
    with network.bridge("br-test", ipaddress.ip_interface("192.0.2.1/24")):
        pass
print(json.dumps([a["local"] for a in link("br-test")["addr_info"] if a["family"] == "inet"]))
""")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["192.0.2.1"]
    assert "already set, skipped" in result.stderr


def test_bridge_is_removed_when_a_later_step_fails() -> None:
    """A bridge the launcher created should be gone again when a later step fails."""
    result = in_netns(PRELUDE + """
try:
    with network.bridge("br-test", ipaddress.ip_interface("192.0.2.1/24")):
        raise RuntimeError("later step failed")
except RuntimeError:
    pass
print(json.dumps(link("br-test")))
""")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) is None


def test_bridge_name_taken_by_other_interface_is_an_error() -> None:
    """-b naming an existing non-bridge interface should fail naming the fix, and keep it."""
    result = in_netns(PRELUDE + """
subprocess.run(["ip", "link", "add", "br-test", "type", "veth", "peer", "name", "br-peer"], check=True)
from docker_from_scratch.launcher.errors import LaunchError
try:
    with network.bridge("br-test", ipaddress.ip_interface("192.0.2.1/24")):
        pass
except LaunchError as exc:
    print(exc.one_line())
print(link("br-test")["linkinfo"]["info_kind"])
""")
    assert result.returncode == 0, result.stderr
    message, kind = result.stdout.strip().splitlines()
    assert "not a bridge (veth)" in message and "pick another -b name" in message
    assert kind == "veth"


def test_ip_forwarding_is_enabled() -> None:
    """The networking step should set net.ipv4.ip_forward to 1 (per network namespace)."""
    result = in_netns(PRELUDE + """
open("/proc/sys/net/ipv4/ip_forward", "w").write("0")
network.enable_ip_forwarding()
print(open("/proc/sys/net/ipv4/ip_forward").read().strip())
""")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"


def test_bridge_is_kept_once_the_steps_succeed() -> None:
    """A bridge handed on with ExitStack.pop_all (the launcher's success path) should stay."""
    result = in_netns(PRELUDE + """
import contextlib, gc
with contextlib.ExitStack() as undo:
    undo.enter_context(network.bridge("br-test", ipaddress.ip_interface("192.0.2.1/24")))
    undo.pop_all()
gc.collect()
print(json.dumps(link("br-test") is not None))
""")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) is True


def test_bridge_rejected_mtu_is_one_line_error_and_bridge_removed() -> None:
    """An MTU the kernel refuses should give the kernel's errno in one line and leave no bridge."""
    result = in_netns(PRELUDE + """
from docker_from_scratch.launcher.errors import LaunchError
try:
    with network.bridge("br-test", ipaddress.ip_interface("192.0.2.1/24"), 70000):
        pass
except LaunchError as exc:
    print(exc.one_line())
print(json.dumps(link("br-test")))
""")
    assert result.returncode == 0, result.stderr
    message, left = result.stdout.strip().splitlines()
    assert message.startswith("cannot set up bridge br-test with 192.0.2.1/24: Invalid argument (EINVAL)")
    assert json.loads(left) is None


def test_bridge_address_has_its_broadcast_address() -> None:
    """The bridge's address should carry its broadcast address, as `ip addr add ... brd +` sets."""
    result = in_netns(PRELUDE + """
with network.bridge("br-test", ipaddress.ip_interface("192.0.2.1/24")):
    print(json.dumps([a.get("broadcast") for a in link("br-test")["addr_info"] if a["family"] == "inet"]))
""")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["192.0.2.255"]


def test_launcher_without_bridge_never_imports_netlink() -> None:
    """The common launch path's modules should not import the netlink code (only -b with --bip does)."""
    code = (
        "import sys, docker_from_scratch.launcher.cli;"
        "print(sorted(m for m in sys.modules if 'netlink' in m or 'pyroute2' in m))"
    )
    result = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
