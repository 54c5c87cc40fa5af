"""What the figures share in one bench run: options, a work directory, built and loaded images.

Images are built from the working tree with the real command (``docker-from-scratch
build``), so the figures describe the code as it is; the build figure registers its
outputs here and the others reuse them instead of building again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import engine
from bench.table import BenchError

ROOT = Path(__file__).resolve().parents[1]
CLI = ROOT / ".venv" / "bin" / "docker-from-scratch"
STAMP_SOURCE = Path(__file__).resolve().parent / "stamp.c"
IMAGE_TAG = "dfs-bench-image:run"
ROOTLESS_TAG = "dfs-bench-image:rootless"


@dataclass(frozen=True)
class Built:
    """One ``docker-from-scratch build``: its archive, its report, how long it took and where."""

    archive: Path
    report: dict[str, Any]
    seconds: float
    # Each progress line of the builder with the seconds until the next one (or the end).
    phases: list[tuple[str, float]]

    def slowest(self, count: int = 3) -> list[tuple[str, float]]:
        return sorted(self.phases, key=lambda phase: -phase[1])[:count]


# The images the figures compare: trixie (the default suite) full, slim, rootless and with
# the CLI plugins; forky full and with the plugins (docker:dind's equivalent). Their build options.
VARIANTS: dict[str, tuple[str, ...]] = {
    "full": (),
    "slim": ("--slim",),
    "rootless": ("--rootless",),
    "plugins": ("--plugins", "buildx,compose"),
    "forky": ("--suite", "forky", "--allow-expired-release"),
    "forky-plugins": ("--suite", "forky", "--allow-expired-release", "--plugins", "buildx,compose"),
}


def build(
    output: Path,
    *,
    slim: bool = False,
    cache_dir: Path | None = None,
    tag: str = IMAGE_TAG,
    options: tuple[str, ...] = (),
) -> Built:
    """Run the builder as a user would; the time includes the CLI's start."""
    argv = [os.fspath(CLI), "build", "-o", os.fspath(output), "--tag", tag, *options]
    argv += ["--slim"] if slim else []
    argv += ["--cache-dir", os.fspath(cache_dir)] if cache_dir else []
    # A cold build must not find anything under the user's cache either.
    env = {**os.environ, "XDG_CACHE_HOME": os.fspath(cache_dir)} if cache_dir else None
    started = time.monotonic()
    lines: list[tuple[float, str]] = [(started, "start of the command")]
    with subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env) as process:
        assert process.stderr is not None
        for line in process.stderr:  # progress lines, timed as they come
            lines.append((time.monotonic(), line.strip().removeprefix("docker-from-scratch: ")))
    ended = time.monotonic()
    if process.returncode != 0:
        raise BenchError(f"docker-from-scratch build failed: {lines[-1][1]}", hint=" ".join(argv))
    phases = [(text, (lines[i + 1][0] if i + 1 < len(lines) else ended) - at) for i, (at, text) in enumerate(lines)]
    reports = sorted(output.glob("*.report.json"))
    if len(reports) != 1:
        raise BenchError(f"expected one report in {output}, found {len(reports)}")
    report = json.loads(reports[0].read_text())
    archive = reports[0].with_name(reports[0].name.removesuffix(".report.json") + ".tar")
    return Built(archive, report, ended - started, phases)


class Session:
    """Options and shared artifacts of one bench run; ``close()`` removes what it made."""

    def __init__(self, *, quick: bool, image: str | None = None, keep_work: bool = False) -> None:
        self.quick = quick
        self._given_image = image
        self._stack = ExitStack()
        self.work = Path(tempfile.mkdtemp(prefix="dfs-bench-"))
        if not keep_work:
            self._stack.callback(shutil.rmtree, self.work, True)
        self.builds: dict[str, Built] = {}  # by VARIANTS' names
        # Figures measured earlier in this run, for the explanations of later ones.
        self.shared: dict[str, float] = {}
        self._loaded: str | None = None
        self._rootless_loaded: list[str] = []
        self._stamp: Path | None = None

    def repetitions(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def close(self) -> None:
        self._stack.close()

    def log(self, message: str) -> None:
        print(f"bench: {message}", file=sys.stderr, flush=True)

    # --- images ------------------------------------------------------------------------

    def built(self, variant: str) -> Built:
        """One of VARIANTS' images of the working tree (a warm build unless done already)."""
        if variant not in self.builds:
            self.log(f"building the {variant} image (warm cache)")
            tag = ROOTLESS_TAG if variant == "rootless" else IMAGE_TAG
            self.builds[variant] = build(self.work / f"build-{variant}", options=VARIANTS[variant], tag=tag)
        return self.builds[variant]

    def rootless_image(self) -> str:
        """The rootless variant of the working tree, loaded into the host engine."""
        if ROOTLESS_TAG not in self._rootless_loaded:
            archive = self.built("rootless").archive
            self.log(f"loading {archive.name} into the host engine as {ROOTLESS_TAG}")
            with open(archive, "rb") as handle:
                engine.docker("load", "-q", stdin=handle.fileno(), timeout=600)
            self._rootless_loaded.append(ROOTLESS_TAG)
            self._stack.callback(engine.docker, "rmi", ROOTLESS_TAG, check=False)
        return ROOTLESS_TAG

    def image(self) -> str:
        """A tag of the full image in the host engine (``--image``, or the build loaded)."""
        if self._given_image:
            return self._given_image
        if self._loaded is None:
            archive = self.built("full").archive
            self.log(f"loading {archive.name} into the host engine as {IMAGE_TAG}")
            with open(archive, "rb") as handle:
                engine.docker("load", "-q", stdin=handle.fileno(), timeout=600)
            self._loaded = IMAGE_TAG
            self._stack.callback(engine.docker, "rmi", IMAGE_TAG, check=False)
        return self._loaded

    # --- the timestamp program -------------------------------------------------------------

    def stamp_dir(self) -> Path:
        """A directory with the static stamp program as ``stamp`` and as ``dockerd``."""
        if self._stamp is None:
            compiler = shutil.which("cc") or shutil.which("gcc")
            if compiler is None:
                raise BenchError("no C compiler for the stamp program", hint="apt-get install gcc libc6-dev")
            directory = self.work / "stamp"
            directory.mkdir()
            binary = directory / "stamp"
            result = subprocess.run(
                [compiler, "-static", "-O2", "-o", os.fspath(binary), os.fspath(STAMP_SOURCE)],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if result.returncode != 0:
                raise BenchError(f"cannot compile {STAMP_SOURCE.name}: {result.stderr.strip()[-200:]}",
                                 hint="apt-get install gcc libc6-dev (static libc)")  # fmt: skip
            os.link(binary, directory / "dockerd")
            self._stamp = directory
        return self._stamp
