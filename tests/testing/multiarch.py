"""The multi-platform build of the e2e tests: `build --arch amd64,arm64`, run as a user runs it."""

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from docker_from_scratch.builder.build import image_name

MULTI_ARCHES = ("amd64", "arm64")
MULTI_TAG = "docker-from-scratch:multi-test"


@dataclass(frozen=True)
class MultiBuild:
    """What `build --arch amd64,arm64` wrote: one archive per architecture and the index archive."""

    directory: Path
    archives: dict[str, Path]
    index_archive: Path
    index_digest: str  # from the verb's own output


def run_multi_build(output: Path) -> MultiBuild:
    """`docker-from-scratch build --arch amd64,arm64`, run as a user runs it."""
    result = subprocess.run(
        [sys.executable, "-m", "docker_from_scratch.cli", "build", "--arch", ",".join(MULTI_ARCHES),
         "--tag", MULTI_TAG, "-o", os.fspath(output)],
        check=True, timeout=1800, capture_output=True, text=True,
    )  # fmt: skip
    digest = re.search(r"^index: (sha256:[0-9a-f]{64})$", result.stdout, re.M)
    assert digest, f"no index digest in the build's output:\n{result.stdout[-2000:]}"
    return MultiBuild(
        directory=output,
        archives={arch: output / f"{image_name('trixie', arch, False)}.tar" for arch in MULTI_ARCHES},
        index_archive=output / f"{image_name('trixie', '-'.join(MULTI_ARCHES), False)}.oci.tar",
        index_digest=digest[1],
    )
