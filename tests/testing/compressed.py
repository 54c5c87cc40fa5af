"""Archives built with `build --compress`, and what the host engine makes of them."""

import json
import os
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.testing.engine import docker, unique

# The first Docker whose pkg/archive detects zstd (moby 23.0).
FIRST_ZSTD_ENGINE = 23


@dataclass(frozen=True)
class Compressed:
    """One archive: where it is, the tag it carries, the image ID it must load as."""

    archive: Path
    tag: str
    image_id: str
    report: dict[str, object]


def build_compressed(spec: str, output: Path) -> Compressed:
    """`docker-from-scratch build --compress SPEC` of the default suite (no --load).

    The build gets its own SOURCE_DATE_EPOCH, so its layer (and diff ID) is new to every
    engine: an engine that already has a layer skips loading it, and a refusal to
    decompress would go unseen (20.10 "loads" a zstd archive whose layer it holds).
    """
    tag = f"{unique('dfs-compress')}:{spec.replace(':', '-')}"
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(random.randrange(10**9, 1_700_000_000))}
    subprocess.run(
        [sys.executable, "-m", "docker_from_scratch.cli", "build", "--compress", spec, "--tag", tag,
         "-o", os.fspath(output)],
        check=True, timeout=1800, env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    (report_path,) = output.glob("*.report.json")
    report = json.loads(report_path.read_text())
    (archive,) = output.glob("*.tar")
    return Compressed(archive, tag, str(report["image_id"]), report)


def host_engine_major() -> int:
    """The host engine's major version (20 for Debian 12's 20.10.24)."""
    version = docker("version", "--format", "{{.Server.Version}}").stdout.strip()
    return int(version.split(".")[0])
