"""Figure 4: TLS certificates at first start, ours against docker:dind's recipe.

Both run in a container of our image with its openssl (``incontainer/tls_race.py``):
ours is ``launcher.tls.ensure_certificates`` (ECDSA P-256, four openssl runs), docker:dind's
is its ``_tls_generate_certs`` command by command (three ``openssl genrsa 4096``).
"""

from __future__ import annotations

import json

from bench import engine
from bench.session import Session
from bench.table import BenchError, Detail, Figure, Results, Target, format_value, median

TARGET_RATIO = 0.05


def measure(session: Session) -> Results:
    runs = session.repetitions(7, 2)
    session.log(f"tls: {runs} first starts and restarts of each recipe")
    options = (*engine.mount_scripts(), "--entrypoint", "/usr/bin/python3")
    stdout, _ = engine.run_attached(session.image(), "-IS", f"{engine.MOUNT_POINT}/tls_race.py", str(runs),
                                    options=options, timeout=600)  # fmt: skip
    try:
        found = json.loads(stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise BenchError(f"tls_race.py printed no result: {stdout.strip()[-200:]}") from None
    first = Figure(
        key="tls.first-start",
        title="TLS certificates at first start (CA, server, client)",
        unit="ms",
        runs=found["ours"],
        baseline_title="docker:dind's recipe, RSA 4096",
        baseline_runs=found["dind"],
        target=Target("ratio", TARGET_RATIO),
        note="in our image with its openssl: launcher.tls.ensure_certificates (ECDSA P-256) against "
        "docker:dind's _tls_generate_certs reproduced command by command (3 x openssl genrsa 4096)",
    )
    ours_ms = median(found["ours"]) or 0.0
    first.holds_back = f"four openssl runs at ~{format_value(ours_ms / 4, 'ms')} each (process start, EC keys)"
    restart = Figure(
        key="tls.restart",
        title="TLS certificates at restart (keys kept, leaves re-issued)",
        unit="ms",
        runs=found["ours_restart"],
        baseline_title="docker:dind's recipe at restart",
        baseline_runs=found["dind_restart"],
    )
    detail = Detail(
        "TLS: each run (ms)",
        ["recipe", "runs"],
        [
            [name, ", ".join(f"{ms:.0f}" for ms in found[name])]
            for name in ("ours", "dind", "ours_restart", "dind_restart")
        ]
        + [["openssl", found["openssl"]], ["subjectAltName", found["san"]]],
    )
    return Results([first, restart], [detail])
