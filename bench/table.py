"""Figures with their baselines, ratios and targets, as a terminal table, Markdown and JSON.

Every figure carries the runs it came from and the baseline's runs, measured in the same
bench run: the value shown is the median of the runs, the ratio is value / baseline.
A target applies to the value or to the ratio; a figure that misses it says what holds it
back (text the figure's module derives from its own measurements).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["met", "missed", "no target", "failed"]


class BenchError(Exception):
    """A measurement could not be made: one line, with the fix as a hint."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


@dataclass(frozen=True)
class Target:
    """At most (or at least) ``limit``, on the figure's value or on its ratio."""

    on: Literal["value", "ratio"]
    limit: float
    at_most: bool = True

    def met_by(self, figure: Figure) -> bool | None:
        measured = figure.value if self.on == "value" else figure.ratio
        if measured is None:
            return None
        return measured <= self.limit if self.at_most else measured >= self.limit

    def describe(self, unit: str) -> str:
        sign = "<=" if self.at_most else ">="
        if self.on == "ratio":
            return f"ratio {sign} {format_ratio(self.limit)}"
        return f"{sign} {format_value(self.limit, unit)}"


@dataclass
class Figure:
    """One measured figure: the median of ``runs`` against the median of ``baseline_runs``."""

    key: str  # stable id: "<group>.<what>", e.g. "launcher.default"
    title: str
    unit: str  # "ms", "s", "MB", "count"
    runs: list[float] = field(default_factory=list)
    baseline_title: str = ""
    baseline_runs: list[float] = field(default_factory=list)
    target: Target | None = None
    holds_back: str = ""  # why a missed target is missed
    note: str = ""  # how it was measured
    error: str = ""  # the measurement failed: why

    @property
    def group(self) -> str:
        return self.key.split(".", 1)[0]

    @property
    def value(self) -> float | None:
        return median(self.runs)

    @property
    def baseline(self) -> float | None:
        return median(self.baseline_runs)

    @property
    def ratio(self) -> float | None:
        value, baseline = self.value, self.baseline
        if value is None or baseline is None:
            return None
        if baseline == 0:
            return None if value else 1.0
        return value / baseline

    @property
    def status(self) -> Status:
        if self.error or self.value is None:
            return "failed"
        if self.target is None:
            return "no target"
        return "met" if self.target.met_by(self) else "missed"

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["target"] = None if self.target is None else {**asdict(self.target), "text": self.target_text}
        doc.update(value=self.value, baseline=self.baseline, ratio=self.ratio, status=self.status)
        return doc

    @property
    def target_text(self) -> str:
        return "" if self.target is None else self.target.describe(self.unit)


@dataclass
class Detail:
    """A small table that explains figures (where the time goes, bytes per component)."""

    title: str
    columns: list[str]
    rows: list[list[str]]


@dataclass
class Results:
    figures: list[Figure] = field(default_factory=list)
    details: list[Detail] = field(default_factory=list)

    def extend(self, other: Results) -> None:
        self.figures += other.figures
        self.details += other.details


# --- formatting --------------------------------------------------------------------------


def format_value(value: float | None, unit: str) -> str:
    """``12.3 ms``, ``1.94 s``, ``268.2 MB``, ``10,000``: enough digits for the spread we see."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if unit == "count":
        return f"{value:,.0f}"
    if unit in ("ms", "MB"):
        return f"{value:.0f} {unit}" if abs(value) >= 1000 else f"{value:.1f} {unit}"
    if unit == "s":
        return f"{value:.1f} s" if abs(value) >= 10 else f"{value:.2f} s"
    return f"{value:.3g} {unit}".strip()


def format_ratio(ratio: float | None) -> str:
    if ratio is None:
        return "-"
    return f"{ratio:.3f}" if ratio < 10 else f"{ratio:.1f}"


def status_text(figure: Figure) -> str:
    if figure.status == "failed":
        return f"FAILED: {figure.error or 'no value'}"
    if figure.status == "missed":
        return f"MISSED: {figure.holds_back}" if figure.holds_back else "MISSED"
    return figure.status


def figure_cells(figure: Figure) -> list[str]:
    baseline = format_value(figure.baseline, figure.unit)
    if figure.baseline_title:
        baseline = f"{baseline} ({figure.baseline_title})"
    runs = len(figure.runs)
    return [
        figure.title,
        format_value(figure.value, figure.unit) + (f" (median of {runs})" if runs > 1 else ""),
        baseline if figure.baseline is not None or figure.baseline_title else "-",
        format_ratio(figure.ratio),
        figure.target_text or "-",
        status_text(figure),
    ]


HEADER = ["Figure", "Ours", "Baseline (same run)", "Ratio", "Target", "Status"]


def text_table(columns: Sequence[str], rows: Iterable[Sequence[str]], max_width: int = 70) -> str:
    """Columns padded to their widest cell (cut at ``max_width``) for the terminal."""
    body = [[cell if len(cell) <= max_width else cell[: max_width - 1] + "…" for cell in row] for row in rows]
    widths = [max([len(columns[i]), *(len(row[i]) for row in body)]) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in body]
    return "\n".join(lines)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(_md_cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_text(results: Results) -> str:
    parts = [text_table(HEADER, [figure_cells(f) for f in results.figures])]
    for detail in results.details:
        parts.append(f"\n{detail.title}\n" + text_table(detail.columns, detail.rows, max_width=100))
    return "\n".join(parts)


def render_markdown(results: Results, preamble: str = "", *, details: bool = True, epilogue: str = "") -> str:
    parts = [preamble.rstrip() + "\n"] if preamble else []
    parts.append(markdown_table(HEADER, [figure_cells(f) for f in results.figures]))
    for detail in results.details if details else []:
        parts.append(f"\n**{detail.title}**\n\n" + markdown_table(detail.columns, detail.rows))
    notes = [f for f in results.figures if f.note]
    if notes:
        parts.append("\nHow each figure is measured:\n")
        parts += [f"- **{f.title}**: {f.note}" for f in notes]
    if epilogue:
        parts.append("\n" + epilogue.rstrip())
    return "\n".join(parts) + "\n"


def to_json(results: Results, **context: Any) -> dict[str, Any]:
    return {
        **context,
        "figures": [f.to_json() for f in results.figures],
        "details": [asdict(d) for d in results.details],
    }


def from_json(doc: dict[str, Any]) -> Results:
    """Results back from ``to_json`` (to render a saved run again)."""
    fields = {"key", "title", "unit", "runs", "baseline_title", "baseline_runs", "holds_back", "note", "error"}
    figures = []
    for item in doc["figures"]:
        target = item.get("target")
        figure = Figure(**{name: value for name, value in item.items() if name in fields})
        if target:
            figure.target = Target(target["on"], target["limit"], target["at_most"])
        figures.append(figure)
    details = [Detail(d["title"], d["columns"], d["rows"]) for d in doc["details"]]
    return Results(figures, details)
