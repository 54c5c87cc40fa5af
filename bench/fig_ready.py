"""Figure 3: from ``docker run -d`` of our image to the nested API answering.

Against the floor: the same image's dockerd started directly (``--entrypoint
/usr/bin/dockerd``, no launcher) with the same flags and a fresh data volume, which
answers the API here even though it could not run nested containers (read-only /sys and
cgroups). The API is polled every 10 ms from the host through ``/proc/PID/root`` (a
``docker exec`` per poll would cost ~100 ms); ``docker version`` inside is then run once.
Runs are interleaved, each variant going first in turn, after one untimed start that
brings the binaries into the page cache.
"""

from __future__ import annotations

import time
from collections import defaultdict

from bench import engine
from bench.session import Session
from bench.table import Detail, Figure, Results, Target, format_value, median

TARGET_RATIO = 1.10
BASELINE = "dockerd"
VARIANTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # name: (docker run options, arguments after the image)
    BASELINE: (("--entrypoint", "/usr/bin/dockerd"), ("--host=unix:///var/run/docker.sock",)),
    "default": ((), ()),
    "no-tls": (("-e", "DOCKER_TLS_CERTDIR="), ()),
}
TITLES = {
    "default": "Ready: docker run -d to the nested API answering (TLS, first start)",
    "no-tls": "Ready: docker run -d to the nested API answering, DOCKER_TLS_CERTDIR=''",
}


def one_start(image: str, variant: str) -> tuple[float, float]:
    """Seconds from ``docker run -d`` to the API's answer, and to ``docker version`` inside."""
    options, args = VARIANTS[variant]
    started = time.monotonic()
    with engine.started(image, *args, options=options) as container:
        answered = engine.wait_for_api(container)
        container.exec("docker", "version", "--format", "{{.Server.Version}}", timeout=60)
        versioned = time.monotonic()
    return answered - started, versioned - started


def measure(session: Session) -> Results:
    image = session.image()
    repetitions = session.repetitions(5, 2)
    session.log(f"ready: {repetitions} starts of each variant ({', '.join(VARIANTS)}), interleaved")
    ready: dict[str, list[float]] = defaultdict(list)
    version: dict[str, list[float]] = defaultdict(list)
    one_start(image, "default")  # untimed: the first start after a load reads the binaries from disk
    names = list(VARIANTS)
    for index in range(repetitions):
        for variant in names[index % len(names) :] + names[: index % len(names)]:  # each goes first in turn
            answered, versioned = one_start(image, variant)
            ready[variant].append(answered)
            version[variant].append(versioned)
    results = Results()
    for variant, title in TITLES.items():
        figure = Figure(
            key=f"ready.{variant}",
            title=title,
            unit="s",
            runs=ready[variant],
            baseline_title="dockerd alone, no launcher",
            baseline_runs=ready[BASELINE],
            target=Target("ratio", TARGET_RATIO),
        )
        extra_ms = ((figure.value or 0) - (figure.baseline or 0)) * 1000
        launcher = session.shared.get(f"launcher.{variant}")
        share = f"; the launcher's own start measures {format_value(launcher, 'ms')}" if launcher else ""
        figure.holds_back = f"{format_value(extra_ms, 'ms')} over dockerd alone{share}"
        results.figures.append(figure)
    results.figures[0].note = (
        "docker run -d (privileged flags, fresh volume) until GET /_ping answers on the nested socket, polled "
        "every 10 ms from the host via /proc/PID/root; baseline: the same image with --entrypoint /usr/bin/dockerd"
    )
    rows = [
        [variant, format_value(median(ready[variant]), "s"), format_value(median(version[variant]), "s")]
        for variant in VARIANTS
    ]
    results.details.append(
        Detail("Ready: medians per variant", ["variant", "API answers", "docker exec ... docker version done"], rows)
    )
    return results
