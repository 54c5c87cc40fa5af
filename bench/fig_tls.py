"""Figure 4: TLS certificates at first start, ours against docker:dind's recipe.

Both run in a container of our image (``incontainer/tls_race.py``): ours is
``launcher.tls.ensure_certificates`` (ECDSA P-256 through libcrypto, in-process),
docker:dind's is its ``_tls_generate_certs`` command by command (three ``openssl genrsa
4096``), with the build host's openssl CLI and its libraries mounted in, since the image
carries no openssl CLI.
"""

from __future__ import annotations

import json
import os
import shutil

from bench import engine
from bench.session import Session
from bench.table import BenchError, Detail, Figure, Results, Target, format_value, median

TARGET_RATIO = 0.05
OPENSSL_DIR = "/bench-openssl"  # where the host's openssl and its two libraries are mounted


def measure(session: Session) -> Results:
    runs = session.repetitions(7, 2)
    session.log(f"tls: {runs} first starts and restarts of each recipe")
    options = (*engine.mount_scripts(), *host_openssl(), "--entrypoint", "/usr/bin/python3")
    stdout, _ = engine.run_attached(session.image(), "-IS", f"{engine.MOUNT_POINT}/tls_race.py", str(runs), OPENSSL_DIR,
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
        note="in our image: launcher.tls.ensure_certificates (ECDSA P-256 through libcrypto, in-process) against "
        "docker:dind's _tls_generate_certs reproduced command by command (3 x openssl genrsa 4096), "
        "with the build host's openssl CLI mounted in (the image has none)",
    )
    ours_ms = median(found["ours"]) or 0.0
    first.holds_back = f"{format_value(ours_ms, 'ms')}: loading libcrypto, three P-256 keys and signatures"
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
        + [["openssl (docker:dind's recipe)", found["openssl"]], ["subjectAltName", found["san"]]],
    )
    return Results([first, restart], [detail])


def host_openssl() -> tuple[str, ...]:
    """docker run options that mount the build host's openssl CLI and its two libraries
    where tls_race.py runs docker:dind's recipe from. The program then runs on the
    image's glibc (trixie's 2.41 here), which must be as new as the host's (bookworm's
    2.36): glibc runs older programs, not newer ones."""
    from docker_from_scratch.requirements.paths import find_library

    paths = [shutil.which("openssl"), *(find_library(name) for name in ("libssl.so.3", "libcrypto.so.3"))]
    options: list[str] = []
    for path in paths:
        if path is None:
            raise BenchError("tls: docker:dind's recipe needs the build host's openssl 3 (apt-get install openssl)")
        options += ["-v", f"{path}:{OPENSSL_DIR}/{os.path.basename(path)}:ro"]
    return tuple(options)
