"""Figure 3: from ``docker run -d`` of our image to the nested API answering.

Against the floor: the same image's dockerd started directly (``--entrypoint
/usr/bin/dockerd``, no launcher) with the same listeners and a fresh data volume, which
answers the API here even though it could not run nested containers (read-only /sys and
cgroups). The API is polled every 10 ms from the host through ``/proc/PID/root`` (a
``docker exec`` per poll would cost ~100 ms); ``docker version`` inside is then run once.
Runs are interleaved, each variant going first in turn, after one untimed start that
brings the binaries into the page cache.

Each variant has its own baseline with the listeners the launcher gives dockerd in that
mode (dind.default_arguments, the one place that knows them): without TLS that is
tcp://0.0.0.0:2375 with --tls=false, for which dockerd itself waits 1 s after its
deprecation notice (moby's listener set-up, cmd/dockerd), so both sides pay that pause.
The TLS baseline keeps only the unix socket: the launcher's certificates would be needed
for --tlsverify, and dockerd does not pause there.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from bench import engine
from bench.session import Session
from bench.table import BenchError, Detail, Figure, Results, Target, format_value, median
from docker_from_scratch.launcher.dind import default_arguments

TARGET_RATIO = 1.10
DOCKERD = ("--entrypoint", "/usr/bin/dockerd")
PLAIN_ARGS = default_arguments({"DOCKER_TLS_CERTDIR": ""})  # unix socket, tcp :2375, --tls=false
VARIANTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # name: (docker run options, arguments after the image)
    "dockerd": (DOCKERD, PLAIN_ARGS[:1]),
    "dockerd-tcp": (DOCKERD, PLAIN_ARGS),
    "default": ((), ()),
    "no-tls": (("-e", "DOCKER_TLS_CERTDIR="), ()),
}
# variant: (its baseline, the baseline's title)
BASELINES = {
    "default": ("dockerd", "dockerd alone, no launcher (unix socket)"),
    "no-tls": ("dockerd-tcp", "dockerd alone, same listeners (unix, tcp :2375 --tls=false)"),
}
TITLES = {
    "default": "Ready: docker run -d to the nested API answering (TLS, first start)",
    "no-tls": "Ready: docker run -d to the nested API answering, DOCKER_TLS_CERTDIR=''",
}


@dataclass(frozen=True)
class Start:
    """One start, in seconds after ``docker run -d`` began."""

    answered: float  # the nested API answered GET /_ping
    versioned: float  # ``docker exec ... docker version`` returned
    dockerd_started: float  # dockerd's "Starting up" log line
    dockerd_listening: float  # dockerd's "API listen on" log line
    pauses: list[tuple[float, str]]  # dockerd's waits of 0.5 s or more between log lines, and the line before


def one_start(image: str, variant: str) -> Start:
    options, args = VARIANTS[variant]
    started, started_wall = time.monotonic(), time.time()
    with engine.started(image, *args, options=options) as container:
        answered = engine.wait_for_api(container)
        container.exec("docker", "version", "--format", "{{.Server.Version}}", timeout=60)
        versioned = time.monotonic()
        log = container.logs()
        milestones = engine.dockerd_milestones(log)
    if len(milestones) < 2:
        raise BenchError(f"no 'Starting up' and 'API listen on' lines in the {variant} daemon's log")
    return Start(
        answered=answered - started,
        versioned=versioned - started,
        dockerd_started=milestones["Starting up"] - started_wall,
        dockerd_listening=milestones["API listen on"] - started_wall,
        pauses=engine.dockerd_pauses(log),
    )


def measure(session: Session) -> Results:
    image = session.image()
    repetitions = session.repetitions(5, 2)
    session.log(f"ready: {repetitions} starts of each variant ({', '.join(VARIANTS)}), interleaved")
    starts: dict[str, list[Start]] = defaultdict(list)
    one_start(image, "default")  # untimed: the first start after a load reads the binaries from disk
    names = list(VARIANTS)
    for index in range(repetitions):
        for variant in names[index % len(names) :] + names[: index % len(names)]:  # each goes first in turn
            starts[variant].append(one_start(image, variant))

    def phase(variant: str, part: Callable[[Start], float]) -> float:
        return median([part(start) for start in starts[variant]]) or 0.0

    def before(start: Start) -> float:
        return start.dockerd_started

    def own(start: Start) -> float:
        return start.dockerd_listening - start.dockerd_started

    results = Results()
    for variant, title in TITLES.items():
        baseline, baseline_title = BASELINES[variant]
        figure = Figure(
            key=f"ready.{variant}",
            title=title,
            unit="s",
            runs=[start.answered for start in starts[variant]],
            baseline_title=baseline_title,
            baseline_runs=[start.answered for start in starts[baseline]],
            target=Target("ratio", TARGET_RATIO),
        )
        launcher = session.shared.get(f"launcher.{variant}")
        before_ms = (phase(variant, before) - phase(baseline, before)) * 1000
        own_ms = (phase(variant, own) - phase(baseline, own)) * 1000
        figure.holds_back = (
            f"until dockerd's first log line {before_ms:+.0f} ms"
            + (f" (the launcher measures {format_value(launcher, 'ms')})" if launcher else "")
            + f", dockerd's own start {own_ms:+.0f} ms"
            + _pause_text(starts[variant], starts[baseline])
        )
        results.figures.append(figure)
    results.figures[0].note = (
        "docker run -d (privileged flags, fresh volume) until GET /_ping answers on the nested socket, polled "
        "every 10 ms from the host via /proc/PID/root; baseline: the same image with --entrypoint /usr/bin/dockerd "
        "and the variant's listeners (no TLS: tcp :2375 --tls=false, where dockerd itself pauses 1 s); "
        "phases from dockerd's own log timestamps"
    )
    rows = [
        [
            variant,
            format_value(phase(variant, before), "s"),
            format_value(phase(variant, own), "s"),
            format_value(phase(variant, lambda start: start.answered), "s"),
            format_value(phase(variant, lambda start: start.versioned), "s"),
            _pause_text(starts[variant]).removeprefix("; "),
        ]
        for variant in VARIANTS
    ]
    columns = ["variant", "docker run -d to dockerd's first log line", "dockerd's own start (its log)",
               "API answers", "docker exec ... docker version done", "dockerd's pauses of 0.5 s or more"]  # fmt: skip
    results.details.append(Detail("Ready: where the time goes (medians)", columns, rows))
    return results


def _pause_text(starts: list[Start], baseline: list[Start] | None = None) -> str:
    """``; dockerd waits 1.0 s after '...'``: the pauses of the last start that the baseline has not."""
    known = {_shape(message) for start in baseline or [] for _, message in start.pauses}
    pauses = [(seconds, message) for seconds, message in starts[-1].pauses if _shape(message) not in known]
    shown = [f"{format_value(seconds, 's')} after '{_cut(message)}'" for seconds, message in pauses]
    return f"; dockerd waits {' and '.join(shown)}" if shown else ""


def _shape(message: str) -> str:
    """A log message without its numbers (``booted in 0.031824s``), to compare runs."""
    return re.sub(r"[0-9.]+", "N", message)


def _cut(message: str, width: int = 90) -> str:
    return message if len(message) <= width else message[: width - 1] + "…"
