"""Figure 8: build time, cold (fresh cache: every package downloaded) and warm, and reproducibility.

The real command, ``docker-from-scratch build``, timed from outside. Cold uses a fresh
``--cache-dir`` (apt lists, .debs, unpacked trees and the Python analysis all made again);
warm uses the default cache, each into a fresh output directory. Every build must give
the same layer digest and image id.
"""

from __future__ import annotations

import shutil

from bench.session import Built, Session, build
from bench.table import Detail, Figure, Results, Target, format_value

TARGET_WARM_S = 20.0


def measure(session: Session) -> Results:
    builds: dict[str, Built] = {}
    if session.quick:
        session.log("build: --quick leaves out the cold build (it downloads every package again)")
    else:
        session.log("build: cold (fresh cache directory: downloads every package)")
        cache = session.work / "cold-cache"
        builds["cold"] = build(session.work / "build-cold", cache_dir=cache)
        shutil.rmtree(cache, ignore_errors=True)
    for index in range(session.repetitions(2, 1)):
        session.log(f"build: warm #{index + 1}")
        builds[f"warm {index + 1}"] = build(session.work / ("build-full" if index == 0 else f"build-warm{index + 1}"))
    session.builds["full"] = builds["warm 1"]
    warm = [b.seconds for name, b in builds.items() if name.startswith("warm")]
    results = Results()
    figure = Figure(
        key="build.warm",
        title="Build, warm (packages cached), into a fresh output directory",
        unit="s",
        runs=warm,
        baseline_title="cold: fresh cache, every package downloaded" if "cold" in builds else "",
        baseline_runs=[builds["cold"].seconds] if "cold" in builds else [],
        target=Target("value", TARGET_WARM_S),
        holds_back="slowest steps after: "
        + ", ".join(f"'{text}' {format_value(seconds, 's')}" for text, seconds in builds["warm 1"].slowest()),
        note="docker-from-scratch build -o NEW_DIR, timed from outside; cold with --cache-dir NEW_DIR",
    )
    results.figures.append(figure)
    digests = {b.report["layer_digest"] for b in builds.values()}
    plural = "builds" if len(builds) != 1 else "build"
    image_ids = {b.report["image_id"] for b in builds.values()}
    results.figures.append(
        Figure(
            key="build.reproducible",
            title=f"Distinct layer digests across {len(builds)} {plural} ({', '.join(builds)})",
            unit="count",
            runs=[float(len(digests))],
            target=Target("value", 1),
            holds_back="the builds differ: compare their .files.json and layer tars",
        )
    )
    rows = [
        [name, format_value(b.seconds, "s"), b.report["layer_digest"][:16], b.report["image_id"][7:23]]
        for name, b in builds.items()
    ]
    rows.append(["distinct", "", str(len(digests)), str(len(image_ids))])
    results.details.append(Detail("Builds", ["build", "time", "layer digest", "image id"], rows))
    phases = [
        [name, f"'{text}'", format_value(seconds, "s")] for name, b in builds.items() for text, seconds in b.slowest(4)
    ]
    title = "Builds: the slowest steps (time from each progress line of the builder to the next)"
    results.details.append(Detail(title, ["build", "after the line", "took"], phases))
    return results
