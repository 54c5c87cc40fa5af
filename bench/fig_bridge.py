"""Figure: the bridge step of ``--bip`` with ``-b``, stdlib netlink against pyroute2.

The measurement behind dropping pyroute2 (README, dependencies). Each run is a fresh
interpreter (the build host's Python, ``-I``) in a fresh network namespace
(``unshare --net``: the bridge never exists outside it) that imports what the step needs
and creates the bridge with an MTU and an address, up: the launcher's
``network.bridge`` (launcher/netlink.py, socket and struct) against the same five
requests through pyroute2's ``IPRoute``, which the launcher used before. The time runs
from the interpreter's first line to the bridge being up; the modules each way loads
come from ``sys.modules`` in the same runs, pyroute2's installed bytes from its files.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

from bench.session import Session
from bench.table import BenchError, Detail, Figure, Results, Target

TARGET_RATIO = 0.25
PREFIX = """
import time
started = time.perf_counter()
before = len(__import__("sys").modules)
"""
SUFFIX = """
import json, sys
print(json.dumps({"ms": (time.perf_counter() - started) * 1000, "modules": len(sys.modules) - before}))
"""
OURS = """
import ipaddress
from docker_from_scratch.launcher import network
with network.bridge("br-bench", ipaddress.ip_interface("192.0.2.1/24"), 1400):
    pass
"""
PYROUTE2 = """
from pyroute2 import IPRoute
with IPRoute() as ipr:
    ipr.link("add", ifname="br-bench", kind="bridge")
    index = ipr.link_lookup(ifname="br-bench")[0]
    ipr.link("set", index=index, mtu=1400)
    ipr.get_addr(index=index, family=2)
    ipr.addr("add", index=index, address="192.0.2.1", prefixlen=24)
    ipr.link("set", index=index, state="up")
"""


def run_once(code: str) -> dict[str, float]:
    """Time one bridge step in a fresh interpreter and network namespace."""
    script = textwrap.dedent(PREFIX) + textwrap.dedent(code) + textwrap.dedent(SUFFIX)
    result = subprocess.run(
        ["unshare", "--net", sys.executable, "-I", "-c", script],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise BenchError(f"bridge step failed: {result.stderr.strip().splitlines()[-1:]}")
    found: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


def installed_mb(package: str) -> float:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise BenchError(f"{package} is not installed", hint="run scripts/setup (the bench's baseline needs it)")
    root = Path(next(iter(spec.submodule_search_locations)))
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file()) / 1e6


def measure(session: Session) -> Results:
    runs = session.repetitions(15, 3)
    pyroute2_mb = installed_mb("pyroute2")
    session.log(f"bridge: {runs} bridge steps each way, each in a fresh netns")
    ours, theirs = [], []
    for _ in range(runs):  # interleaved, so a busy moment hits both
        ours.append(run_once(OURS))
        theirs.append(run_once(PYROUTE2))
    figure = Figure(
        key="bridge.step",
        title="Bridge step (--bip with -b): import, create, MTU, address, up",
        unit="ms",
        runs=[run["ms"] for run in ours],
        baseline_title="the same requests through pyroute2 (the launcher's former code)",
        baseline_runs=[run["ms"] for run in theirs],
        target=Target("ratio", TARGET_RATIO),
        note="the build host's Python -I in unshare --net, a fresh interpreter per run",
    )
    detail = Detail(
        "Bridge step: what each way loads",
        ["way", "modules imported by the step", "installed"],
        [
            ["launcher/netlink.py (socket, struct)", f"{ours[0]['modules']:.0f}", "one module of our package"],
            ["pyroute2 IPRoute", f"{theirs[0]['modules']:.0f}", f"{pyroute2_mb:.2f} MB (its package files)"],
        ],
    )
    return Results([figure], [detail])
