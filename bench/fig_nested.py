"""Figure 7: ``docker run --rm IMAGE true`` inside our DinD container, against the host engine.

The image is the tests' busybox image (imported from Debian's busybox-static, no
registry), loaded into the nested daemon. ``incontainer/timed.py`` times each run: with
the image's Python inside, with the host's Python on the host. Batches alternate between
the two so that a busy moment of the machine hits both; one untimed run warms each up.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.testing.engine import ensure_busybox_image, save_image

from bench import engine
from bench.session import Session
from bench.table import BenchError, Figure, Results, Target

TARGET_RATIO = 1.2
BATCH = 5


def _times(argv: list[str]) -> list[float]:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
    if result.returncode != 0:
        raise BenchError(f"timed runs failed: {result.stderr.strip()[-200:]}")
    times: list[float] = json.loads(result.stdout.strip().splitlines()[-1])
    return times


def measure(session: Session) -> Results:
    image = session.image()
    busybox = ensure_busybox_image()
    archive = save_image(busybox, session.work / "busybox.tar")
    runs = session.repetitions(20, 5)
    session.log(f"nested: {runs} runs of docker run --rm {busybox} true, inside and on the host")
    command = ["docker", "run", "--rm", busybox, "true"]
    timed_host = [sys.executable, f"{engine.IN_CONTAINER}/timed.py"]
    nested: list[float] = []
    host: list[float] = []
    with engine.started(image, options=engine.mount_scripts()) as container:
        engine.wait_for_api(container)
        with open(archive, "rb") as handle:
            engine.docker("exec", "-i", container.name, "docker", "load", "-q", stdin=handle.fileno())
        versions = (
            container.exec("docker", "version", "--format", "{{.Server.Version}}").strip(),
            engine.docker("version", "--format", "{{.Server.Version}}").strip(),
        )
        timed_inside = ["docker", "exec", container.name, "python3", "-IS", f"{engine.MOUNT_POINT}/timed.py"]
        _times([*timed_inside, "1", *command])
        _times([*timed_host, "1", *command])
        while len(nested) < runs:
            batch = str(min(BATCH, runs - len(nested)))
            nested += _times([*timed_inside, batch, *command])
            host += _times([*timed_host, batch, *command])
    figure = Figure(
        key="nested.run",
        title=f"docker run --rm {busybox.split(':')[0]} true, inside our DinD container",
        unit="ms",
        runs=nested,
        baseline_title="the same on the host engine",
        baseline_runs=host,
        target=Target("ratio", TARGET_RATIO),
        holds_back=f"the nested engine is dockerd {versions[0]} (its overlay2 on a volume, its cgroups inside "
        f"the DinD container's), the host's is dockerd {versions[1]}",
        note="wall time of each docker run, timed by the same stdlib script inside (the image's Python) and on "
        "the host, in alternating batches of 5 after one warm-up run each",
    )
    return Results([figure])
