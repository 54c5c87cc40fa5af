"""Run every row's probe and describe the outcome: as a text table, or as JSON data.

Exit rule: Docker can run unless a hard row is missing that dockerlaunch does not repair
itself. Rows it repairs (read-only /sys and cgroups, remounted at start) still show as
missing, with a note, because the repair needs CAP_SYS_ADMIN: that row blocks instead.
"""

from __future__ import annotations

import os
import time

from docker_from_scratch.requirements.modules import kernel_release
from docker_from_scratch.requirements.paths import read_text, under
from docker_from_scratch.requirements.probes import (
    Result,
    mount_of,
    read_mounts,
    run_probe,
)
from docker_from_scratch.requirements.record import Record
from docker_from_scratch.requirements.table import REQUIREMENTS

# dataclasses (with inspect, ast and dis) stays out of the
# image's runtime: Record gives the value semantics (requirements/record.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from docker_from_scratch.requirements.table import Requirement

REPAIR_NOTE = "dockerlaunch repairs this at start (it needs CAP_SYS_ADMIN)"


class Outcome(Record):
    __slots__ = ("requirement", "result")

    def __init__(self, requirement: Requirement, result: Result) -> None:
        self.requirement = requirement
        self.result = result

    @property
    def status(self) -> str:
        return "found" if self.result.ok else "missing"

    @property
    def blocking(self) -> bool:
        row = self.requirement
        return row.level == "hard" and not self.result.ok and not row.fixed_by_launcher

    @property
    def fix(self) -> str:
        return self.result.hint or self.requirement.fix

    @property
    def lost(self) -> str:
        if self.requirement.level == "hard":
            return "Docker cannot run"
        return self.requirement.lost


class Report(Record):
    __slots__ = ("outcomes", "where", "kernel", "seconds")

    def __init__(self, outcomes: tuple[Outcome, ...], where: str, kernel: str, seconds: float) -> None:
        self.outcomes = outcomes
        self.where = where
        self.kernel = kernel
        self.seconds = seconds

    @property
    def blocking(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.blocking]

    @property
    def docker_can_run(self) -> bool:
        return not self.blocking

    def verdict(self) -> str:
        """The last line: whether Docker can run, naming what stops it."""
        if self.blocking:
            names = ", ".join(o.requirement.name for o in self.blocking)
            fixes = "; ".join(dict.fromkeys(o.fix for o in self.blocking))
            return f"Docker cannot run here: missing {names} (fix: {fixes})"
        missing = [o.requirement for o in self.outcomes if not o.result.ok]
        soft = [row.name for row in missing if row.level != "rootless"]
        # Rootless rows are no loss for a rootful daemon: name them apart, for `--rootless`.
        rootless = [row.name for row in missing if row.level == "rootless"]
        line = "Docker can run here; " + (
            f"missing, with losses: {', '.join(soft)}" if soft else "every requirement was found"
        )
        return line + (f"; rootless mode also needs: {', '.join(rootless)}" if rootless else "")


def where_am_i(root: str = "/") -> str:
    """'container' or 'host', a guess for the report's header: PID 1's cgroup names a
    container manager, or a marker file (/.dockerenv, /run/.containerenv) sits on an
    overlayfs root. A marker alone is not enough: this build machine's VM root file
    system came from a Docker image and kept its /.dockerenv."""
    cgroup = read_text(os.path.join(root, "proc/1/cgroup"))
    if any(word in cgroup for word in ("docker", "kubepods", "containerd", "lxc", "libpod")):
        return "container"
    markers = ("/.dockerenv", "/run/.containerenv")
    if any(os.path.exists(under(root, m)) for m in markers):
        top = mount_of("/", read_mounts(root))
        if top is not None and top.fs_type in ("overlay", "fuse-overlayfs", "aufs"):
            return "container"
    return "host"


def run_check(
    rows: Iterable[Requirement] = REQUIREMENTS,
    *,
    root: str = "/",
    data_root: str | None = None,
) -> Report:
    """Probe every row (``data_root`` replaces the not-overlay row's path)."""
    start = time.perf_counter()
    outcomes = []
    for row in rows:
        if data_root is not None and row.probe == "not-overlay":
            row = row.replace(target=data_root)
        outcomes.append(Outcome(row, run_probe(row, root)))
    seconds = time.perf_counter() - start
    return Report(tuple(outcomes), where_am_i(root), kernel_release(root), seconds)


def as_data(report: Report) -> dict[str, Any]:
    """The report as JSON-ready data (the shape `check --json` prints)."""
    return {
        "docker_can_run": report.docker_can_run,
        "where": report.where,
        "kernel": report.kernel,
        "seconds": round(report.seconds, 6),
        "missing_hard": [o.requirement.name for o in report.blocking],
        "verdict": report.verdict(),
        "requirements": [
            {
                "name": o.requirement.name,
                "kind": o.requirement.kind,
                "level": o.requirement.level,
                "status": o.status,
                "ok": o.result.ok,
                "blocking": o.blocking,
                "fixed_by_launcher": o.requirement.fixed_by_launcher,
                "detail": o.result.detail,
                "why": o.requirement.why,
                "lost": "" if o.result.ok else o.lost,
                "fix": "" if o.result.ok else o.fix,
            }
            for o in report.outcomes
        ],
    }


def as_text(report: Report) -> str:
    """A table: requirement, level, found/missing, what was seen; under each missing row
    what is lost and the fix. Ends with the verdict line."""
    width = max(len(o.requirement.name) for o in report.outcomes) + 2
    indent = " " * (width + 9 + 9)
    header = (
        f"docker-from-scratch check: {report.where}, kernel {report.kernel}, "
        f"{len(report.outcomes)} requirements in {report.seconds * 1000:.1f} ms"
    )
    lines = [header, "", f"{'REQUIREMENT':<{width}}{'LEVEL':<9}{'STATUS':<9}DETAIL"]
    for outcome in report.outcomes:
        row = outcome.requirement
        lines.append(f"{row.name:<{width}}{row.level:<9}{outcome.status:<9}{outcome.result.detail}")
        if outcome.result.ok:
            continue
        if row.fixed_by_launcher:
            lines.append(f"{indent}{REPAIR_NOTE}")
        else:
            lines.append(f"{indent}lost: {outcome.lost}")
        lines.append(f"{indent}fix:  {outcome.fix}")
    lines += ["", report.verdict()]
    return "\n".join(lines) + "\n"
