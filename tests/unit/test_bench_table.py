"""The benchmark table: medians, ratios, targets, and the text, Markdown and JSON renderings."""

import json
from pathlib import Path

import pytest
from bench.__main__ import BEGIN, END, update_readme
from bench.table import (
    Detail,
    Figure,
    Results,
    Target,
    format_ratio,
    format_value,
    from_json,
    render_markdown,
    render_text,
    to_json,
)


def launcher_figure(runs: list[float], floor: list[float]) -> Figure:
    return Figure(
        key="launcher.default",
        title="Launcher",
        unit="ms",
        runs=runs,
        baseline_title="python3 -IS",
        baseline_runs=floor,
        target=Target("value", 40),
        holds_back="TLS 60 ms",
    )


def test_bench_figure_value_is_the_median_of_runs() -> None:
    """A figure's value and baseline should be the medians of their runs, and the ratio their quotient."""
    figure = launcher_figure([30.0, 100.0, 20.0], [10.0, 12.0])
    assert figure.value == 30.0
    assert figure.baseline == 11.0
    assert figure.ratio == pytest.approx(30 / 11)


def test_bench_target_on_value_met_and_missed() -> None:
    """A value target should be met at or under its limit and missed above it."""
    assert launcher_figure([40.0], [10.0]).status == "met"
    assert launcher_figure([40.1], [10.0]).status == "missed"


def test_bench_target_on_ratio() -> None:
    """A ratio target should judge value / baseline, not the value."""
    figure = Figure(key="ready.x", title="Ready", unit="s", runs=[2.2], baseline_runs=[2.0],
                    target=Target("ratio", 1.10))  # fmt: skip
    assert figure.status == "met"
    figure.runs = [2.3]
    assert figure.status == "missed"


def test_bench_zero_target_with_zero_baseline() -> None:
    """Zero zombies against zero should be met with ratio 1, not a division error."""
    figure = Figure(key="reaping.z", title="Zombies", unit="count", runs=[0.0], baseline_runs=[0.0],
                    target=Target("value", 0))  # fmt: skip
    assert figure.ratio == 1.0
    assert figure.status == "met"


def test_bench_figure_without_runs_or_with_error_failed() -> None:
    """A figure with no runs or an error should count as failed, whatever its target."""
    assert Figure(key="a.b", title="x", unit="ms", target=Target("value", 1)).status == "failed"
    assert launcher_figure([1.0], [1.0]).status == "met"
    broken = launcher_figure([1.0], [1.0])
    broken.error = "docker run failed"
    assert broken.status == "failed"


def test_bench_figure_without_target_has_no_status_verdict() -> None:
    """A figure shown for context should say it has no target."""
    assert Figure(key="a.b", title="x", unit="ms", runs=[1.0]).status == "no target"


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (12.345, "ms", "12.3 ms"),
        (3280.4, "ms", "3280 ms"),
        (1.234, "s", "1.23 s"),
        (21.74, "s", "21.7 s"),
        (268.3, "MB", "268.3 MB"),
        (10000.0, "count", "10,000"),
        (None, "ms", "-"),
    ],
)
def test_bench_format_value(value: float | None, unit: str, text: str) -> None:
    """Values should print with their unit and a precision that fits their size."""
    assert format_value(value, unit) == text


def test_bench_format_ratio_keeps_small_ratios_readable() -> None:
    """Ratios should keep three decimals (1.102 against 1.10 must not print as 1.10), big ones one."""
    assert format_ratio(0.0186) == "0.019"
    assert format_ratio(1.1016) == "1.102"
    assert format_ratio(12.34) == "12.3"
    assert format_ratio(None) == "-"


def test_bench_markdown_shows_missed_target_with_reason() -> None:
    """A missed figure's Markdown row should say MISSED and what holds it back."""
    results = Results([launcher_figure([140.0, 150.0], [15.0])], [Detail("Parts", ["part", "ms"], [["tls", "60"]])])
    markdown = render_markdown(results, "Measured on a machine.")
    row = next(line for line in markdown.splitlines() if line.startswith("| Launcher"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells == ["Launcher", "145.0 ms (median of 2)", "15.0 ms (python3 -IS)", "9.667", "<= 40.0 ms",
                     "MISSED: TLS 60 ms"]  # fmt: skip
    assert markdown.startswith("Measured on a machine.")
    assert "| tls | 60 |" in markdown


def test_bench_markdown_escapes_pipes_in_cells() -> None:
    """A pipe inside a cell should not split the Markdown row."""
    figure = Figure(key="a.b", title="a | b", unit="ms", runs=[1.0])
    assert "| a \\| b |" in render_markdown(Results([figure]))


def test_bench_text_table_aligns_columns() -> None:
    """Every line of the terminal table should start each column at the same offset."""
    text = render_text(Results([launcher_figure([30.0], [10.0]), launcher_figure([45.0, 50.0, 55.0], [10.0])]))
    lines = text.splitlines()
    offsets = {line.index("ms") for line in lines[2:4]}
    assert len(offsets) == 1


def test_bench_json_carries_runs_medians_and_status() -> None:
    """The JSON should hold the runs, the medians, the ratio, the target text and the status."""
    doc = json.loads(json.dumps(to_json(Results([launcher_figure([30.0, 50.0], [10.0])]), machine={"cores": 2})))
    figure = doc["figures"][0]
    assert doc["machine"] == {"cores": 2}
    assert figure["runs"] == [30.0, 50.0]
    assert (figure["value"], figure["baseline"], figure["ratio"]) == (40.0, 10.0, 4.0)
    assert figure["target"]["text"] == "<= 40.0 ms"
    assert figure["status"] == "met"


def test_bench_readme_update_replaces_only_the_marked_block(tmp_path: Path) -> None:
    """--update-readme should rewrite the text between the markers and keep the rest."""
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n## Performance\n\n{BEGIN}\nold table\n{END}\n\n## Next\n")
    update_readme("| new | table |\n", readme)
    text = readme.read_text()
    assert text.startswith("# Title\n\n## Performance\n\n")
    assert text.endswith(f"| new | table |\n{END}\n\n## Next\n")
    assert "old table" not in text


def test_bench_saved_results_render_the_same() -> None:
    """A run saved as JSON should render to the same Markdown when loaded again."""
    zombies = Figure(key="reaping.z", title="Zombies", unit="count", runs=[0.0], baseline_runs=[10000.0],
                     target=Target("value", 0))  # fmt: skip
    results = Results([launcher_figure([140.0, 150.0], [15.0]), zombies], [Detail("Parts", ["a", "b"], [["x", "1"]])])
    loaded = from_json(json.loads(json.dumps(to_json(results, quick=True))))
    assert render_markdown(loaded) == render_markdown(results)
    assert [f.status for f in loaded.figures] == ["missed", "met"]
