"""Figure 2: the launcher's time from its process start to the exec of dockerd.

In a container of our image, started as the README starts it (privileged flags; a tmpfs
data root so the data-root probe is content), the entrypoint is the static ``stamp``
program: it writes a CLOCK_MONOTONIC stamp and execs ``dockerlaunch``, which is given a
link to the same program as DOCKER_BINARY. The launcher runs every step for real (mounts,
cgroups, TLS, iptables, ulimits) and, in reap mode as PID 1, execs docker-init, which
starts "dockerd": the second stamp. The difference is the launcher's whole cost
including the interpreter's start and the exec of docker-init.

Baseline: the interpreter floor, ``python3 -IS`` that execs the same stamp at once.
Where the time goes: the launcher's own step timings (DOCKER_LAUNCH_DEBUG=true, each
"...: done in X ms"), the floor, and the rest (imports, argument parsing, exec) by
difference; ``python3 -X importtime`` runs list the heaviest imports, and a run that
imports exactly the modules a start imports, then execs at once, measures their cost
alone (less the floor; part of it falls inside the steps that import lazily).
"""

from __future__ import annotations

import os
import re
from collections import defaultdict

from bench import engine
from bench.session import Session
from bench.table import BenchError, Detail, Figure, Results, Target, format_value, median

STAMP_MOUNT = "/bench-stamp"
END = f"{STAMP_MOUNT}/dockerd"
LAUNCH = ("--exec", "/usr/bin/dockerlaunch", END)
FLOOR = ("--exec", "/usr/bin/python3", "-IS", "-c", f"import os; os.execv({END!r}, [{END!r}])")
IMPORTTIME = ("--exec", "/usr/bin/python3", "-IS", "-X", "importtime", "/usr/bin/dockerlaunch", END)
FLOOR_IMPORTTIME = ("--exec", "/usr/bin/python3", "-IS", "-X", "importtime", "-c", "pass")
TARGET_MS = 40.0
MODES = {"default": (), "no-tls": ("-e", "DOCKER_TLS_CERTDIR=")}
MODE_TITLES = {"default": "TLS on, first start (the default)", "no-tls": "DOCKER_TLS_CERTDIR='' (no TLS)"}
OURS = "docker_from_scratch"
STEP_LINE = re.compile(r"^dockerlaunch: debug: (?! )(.+): done in ([0-9.]+) ms$")
IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$")
REST = "imports, argument parsing, exec of docker-init (the rest)"
FLOOR_PART = "interpreter start and exec (floor)"


def stamps_ms(stderr: str) -> float:
    """Milliseconds from the ``stamp`` stamp to the ``dockerd`` stamp in a container's stderr."""
    found: dict[str, int] = {}
    for line in stderr.splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == "stamp" and words[2].isdigit():
            found.setdefault(words[1], int(words[2]))
    if "stamp" not in found or "dockerd" not in found:
        tail = " / ".join(stderr.strip().splitlines()[-2:])
        raise BenchError(f"the launcher did not reach dockerd: {tail}")
    return (found["dockerd"] - found["stamp"]) / 1e6


def step_times(stderr: str) -> dict[str, float]:
    """The launcher's top-level step timings (``--debug``) in ms, by step title."""
    steps: dict[str, float] = {}
    for line in stderr.splitlines():
        match = STEP_LINE.match(line)
        if match:
            steps[match.group(1)] = float(match.group(2))
    return steps


def import_times(stderr: str) -> list[tuple[str, int, int, str]]:
    """``-X importtime`` lines as (module, self µs, cumulative µs, importer), in output order.

    The output lists a module's imports before it, one level deeper: the importer of a
    line is the next line one level up ("" for the script's own imports, the lazy ones).
    """
    lines = []
    for match in map(IMPORT_LINE.match, stderr.splitlines()):
        if match:
            depth = (len(match.group(3)) - 1) // 2
            lines.append((match.group(4), int(match.group(1)), int(match.group(2)), depth))
    found = []
    for index, (module, self_us, cumulative_us, depth) in enumerate(lines):
        importer = next((later[0] for later in lines[index + 1 :] if later[3] == depth - 1), "")
        found.append((module, self_us, cumulative_us, importer))
    return found


class _Runner:
    def __init__(self, session: Session) -> None:
        self.image = session.image()
        self.mount = ("-v", f"{session.stamp_dir()}:{STAMP_MOUNT}:ro", "--entrypoint", f"{STAMP_MOUNT}/stamp")

    def run(self, argv: tuple[str, ...], env: tuple[str, ...] = ()) -> str:
        options = ("--tmpfs", "/var/lib/docker", *self.mount, *env)
        return engine.run_attached(self.image, *argv, options=options)[1]


def measure(session: Session) -> Results:
    runner = _Runner(session)
    repetitions = session.repetitions(20, 5)
    session.log(f"launcher: {repetitions} starts per mode, interleaved with the interpreter floor")
    runner.run(LAUNCH)  # untimed: the first start after a load reads the image's files from disk
    floor: list[float] = []
    totals: dict[str, list[float]] = {mode: [] for mode in MODES}
    for _ in range(repetitions):
        floor.append(stamps_ms(runner.run(FLOOR)))
        for mode, env in MODES.items():
            totals[mode].append(stamps_ms(runner.run(LAUNCH, env)))
    # Debug runs: the step timings, and the rest of the same run by difference.
    steps: dict[str, dict[str, list[float]]] = {mode: defaultdict(list) for mode in MODES}
    debug_totals: dict[str, list[float]] = {mode: [] for mode in MODES}
    floor_ms = median(floor) or 0.0
    load = os.getloadavg()[0]  # the other sessions' share of the 2 cores, read beside the runs
    for _ in range(session.repetitions(10, 3)):
        for mode, env in MODES.items():
            stderr = runner.run(LAUNCH, (*env, "-e", "DOCKER_LAUNCH_DEBUG=true"))
            found = step_times(stderr)
            total = stamps_ms(stderr)
            debug_totals[mode].append(total)
            for title, ms in found.items():
                steps[mode][title].append(ms)
            steps[mode][REST].append(total - floor_ms - sum(found.values()))
    imports, modules = _imports(runner, session.repetitions(3, 1))
    imports_only, floor_again = [], []
    for _ in range(repetitions):
        floor_again.append(stamps_ms(runner.run(FLOOR)))
        imports_only.append(stamps_ms(runner.run(import_only(modules))))
    importing_ms = (median(imports_only) or 0.0) - (median(floor_again) or 0.0)

    results = Results()
    parts: dict[str, dict[str, float]] = {}
    for mode in MODES:
        parts[mode] = {FLOOR_PART: floor_ms} | {title: median(runs) or 0.0 for title, runs in steps[mode].items()}
        figure = Figure(
            key=f"launcher.{mode}",
            title=f"Launcher: start to exec of dockerd, {MODE_TITLES[mode]}",
            unit="ms",
            runs=totals[mode],
            baseline_title="python3 -IS exec at once",
            baseline_runs=floor,
            target=Target("value", TARGET_MS),
        )
        figure.holds_back = holds_back(figure.value, parts[mode], median(debug_totals[mode]), load)
        alone = format_value(importing_ms, "ms")
        figure.holds_back += f"; importing a TLS start's {len(modules)} modules alone: {alone}"
        results.figures.append(figure)
        if figure.value is not None:
            session.shared[figure.key] = figure.value
    results.figures[0].note = (
        "a static stamp program stamps CLOCK_MONOTONIC, execs dockerlaunch in a fresh container "
        "(privileged flags), and is dockerd too: the launcher runs every step, execs docker-init, "
        "which starts the stamp again; baseline: python3 -IS that execs the stamp at once"
    )
    rows = [[name] + [format_value(parts[m].get(name), "ms") for m in MODES] for name in _row_order(parts)]
    rows.append(["total with --debug (these runs)"] + [format_value(median(debug_totals[m]), "ms") for m in MODES])
    rows.append(["total without --debug (the figure)"] + [format_value(median(totals[m]), "ms") for m in MODES])
    rows.append(
        [f"importing the {len(modules)} modules of a TLS start, alone (import them, exec at once; less the floor)"]
        + [format_value(importing_ms, "ms")] * len(MODES)
    )
    title = "Launcher: where the time goes (medians of --debug runs; the rest is each run's total minus its steps)"
    results.details.append(Detail(title, ["part", *MODE_TITLES.values()], rows))
    results.details.append(imports)
    return results


def holds_back(total: float | None, parts: dict[str, float], debug_total: float | None, load: float) -> str:
    """The status of a missed target: how far over, then where the time goes, measured.

    The floor first (no launcher change moves it), then the three biggest other parts of
    the --debug runs; those runs are slower than the figure's own (the debug lines, shlex
    for each program's argv), so their total is given beside the parts.
    """
    over = f"{format_value((total or 0.0) - TARGET_MS, 'ms')} over at load {load:.1f}"
    floor = f"{FLOOR_PART} {format_value(parts.get(FLOOR_PART), 'ms')}"
    others = sorted(((name, ms) for name, ms in parts.items() if name != FLOOR_PART), key=lambda item: -item[1])
    biggest = ", ".join(f"{name} {format_value(ms, 'ms')}" for name, ms in others[:3])
    return f"{over}: {floor}, {biggest} (of {format_value(debug_total, 'ms')} in --debug runs)"


def _row_order(parts: dict[str, dict[str, float]]) -> list[str]:
    names: list[str] = [FLOOR_PART]
    for mode_parts in parts.values():
        names += [name for name in mode_parts if name not in names and name != REST]
    return [*names, REST]


def import_only(modules: list[str]) -> tuple[str, ...]:
    """The floor's program with ``modules`` imported first, in the order a start imports them."""
    statements = "".join(f"import {module}; " for module in modules)
    return ("--exec", "/usr/bin/python3", "-IS", "-c", f"import os; {statements}os.execv({END!r}, [{END!r}])")


def _imports(runner: _Runner, repetitions: int) -> tuple[Detail, list[str]]:
    """What the launcher imports beyond the interpreter's own start, and who pulls what in;
    with the modules in the order the first run finished importing them."""
    at_start = {module for module, *_ in import_times(runner.run(FLOOR_IMPORTTIME))}
    self_us: dict[str, list[int]] = defaultdict(list)
    pulled: dict[tuple[str, str], list[int]] = defaultdict(list)  # (module, our importer) -> cumulative
    order: list[str] = []
    for _ in range(repetitions):
        for module, own, cumulative, importer in import_times(runner.run(IMPORTTIME)):
            if module in at_start:
                continue
            if module not in order:
                order.append(module)
            self_us[module].append(own)
            if not module.startswith(OURS) and (importer.startswith(OURS) or not importer):
                pulled[(module, importer)].append(cumulative)
    own_ms = {module: (median(runs) or 0) / 1000 for module, runs in self_us.items()}
    ours = sum(ms for module, ms in own_ms.items() if module.startswith(OURS))
    rows = [
        [
            "everything beyond the interpreter's start",
            format_value(sum(own_ms.values()), "ms"),
            f"{len(own_ms)} modules",
        ],
        ["  our package's own code", format_value(ours, "ms"), ""],
        ["  the standard library", format_value(sum(own_ms.values()) - ours, "ms"), ""],
    ]
    heaviest = sorted(pulled.items(), key=lambda item: -(median(item[1]) or 0))[:8]
    for (module, importer), runs in heaviest:
        by = importer.removeprefix(OURS + ".") if importer else "a function, lazily"
        rows.append(
            [f"  {module} (imported by {by})", format_value((median(runs) or 0) / 1000, "ms"), "with its imports"]
        )
    title = "Launcher imports (python3 -X importtime: inflated by its own bookkeeping, read as proportions)"
    return Detail(title, ["imports", "self/cumulative", ""], rows), order
