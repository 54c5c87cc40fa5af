"""The rootless variant (build --rootless) next to the rootful image: size and start-up.

Size: bytes of every file, from each build's report; baseline the full rootful image.
Start: ``docker run -d`` to the nested API answering on its socket (polled every 10 ms
from the host through /proc/PID/root), TLS on (the default) for both, a fresh data
volume each; the rootless container gets the privileged flags plus a 0666 /dev/net/tun
node (this host's own is 0600). Runs alternate, each variant going first in turn, after
one untimed start of each.
"""

from __future__ import annotations

import os
import stat
import time

from bench import engine
from bench.session import Session
from bench.table import Detail, Figure, Results, format_value
from docker_from_scratch.builder.content import ROOTLESS_DATA_ROOT, ROOTLESS_RUNTIME_DIR

ROOTLESS_SOCKET = f"{ROOTLESS_RUNTIME_DIR}/docker.sock"


def _total_bytes(report: dict[str, object]) -> float:
    components = report["components"]
    assert isinstance(components, dict)
    return sum(int(c["bytes"]) for c in components.values()) / 1e6


def _tun_node(session: Session) -> str:
    node = session.work / "tun"
    if not node.exists():
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(10, 200))
        os.chmod(node, 0o666)
    return os.fspath(node)


def one_start(image: str, rootless: bool, tun: str) -> float:
    started = time.monotonic()
    if rootless:
        with engine.started(
            image, options=("--device", f"{tun}:/dev/net/tun"), data_root=ROOTLESS_DATA_ROOT
        ) as container:
            return engine.wait_for_api(container, socket=ROOTLESS_SOCKET) - started
    with engine.started(image) as container:
        return engine.wait_for_api(container) - started


def measure(session: Session) -> Results:
    rootful_image, rootless_image = session.image(), session.rootless_image()
    tun = _tun_node(session)
    repetitions = session.repetitions(5, 2)
    session.log(f"rootless: {repetitions} starts of each variant, interleaved")
    one_start(rootful_image, False, tun)  # untimed: page cache
    one_start(rootless_image, True, tun)
    runs: dict[bool, list[float]] = {False: [], True: []}
    for index in range(repetitions):
        for rootless in (index % 2 == 0, index % 2 != 0):
            runs[rootless].append(one_start(rootless_image if rootless else rootful_image, rootless, tun))
    full, rootless_build = session.built("full"), session.built("rootless")
    results = Results()
    results.figures.append(
        Figure(
            key="rootless.size",
            title="Image size, rootless (--rootless): bytes of every file",
            unit="MB",
            runs=[_total_bytes(rootless_build.report)],
            baseline_title="the full rootful image",
            baseline_runs=[_total_bytes(full.report)],
            note="sum of the builders' reports (every file of the layer); the difference is rootlesskit "
            "(with nsenter and ip), slirp4netns with libslirp and GLib, uidmap, fuse-overlayfs",
        )
    )
    results.figures.append(
        Figure(
            key="rootless.ready",
            title="Ready, rootless: docker run -d to the nested API answering (TLS, first start)",
            unit="s",
            runs=runs[True],
            baseline_title="the rootful image, same measurement",
            baseline_runs=runs[False],
            note="docker run -d (privileged flags, fresh volume; rootless also --device with a 0666 tun node) "
            "until GET /_ping answers on the nested socket, polled every 10 ms from the host via /proc/PID/root",
        )
    )
    rows = []
    for name, report in (("rootful (full)", full.report), ("rootless", rootless_build.report)):
        components = report["components"]
        rows.append([name] + [format_value(int(components[c]["bytes"]) / 1e6, "MB") for c in sorted(components)])
    columns = ["image", *sorted(full.report["components"])]
    results.details.append(Detail("Rootless: bytes per component", columns, rows))
    return results
