"""The README's requirement table is generated from requirements/table.py and kept equal."""

import argparse
from pathlib import Path

import pytest

from docker_from_scratch.doctor import cmd_readme
from docker_from_scratch.doctor.readme import (
    BEGIN,
    END,
    block,
    extract_block,
    markdown_table,
    replace_block,
)
from docker_from_scratch.requirements.table import REQUIREMENTS, Requirement

ROOT = Path(__file__).resolve().parents[2]


def test_readme_table_matches_the_requirement_table() -> None:
    """README.md's block between the markers should equal the generated table."""
    readme = (ROOT / "README.md").read_text()
    found = extract_block(readme)
    assert found is not None, f"README.md lacks the {BEGIN} ... {END} markers"
    assert found == block().strip("\n"), (
        "README.md's requirement table is stale: run `docker-from-scratch readme-table --update README.md`"
    )


def test_readme_table_has_one_line_per_row() -> None:
    """Every row of the table should appear once, in order, after the two header lines."""
    lines = markdown_table().splitlines()
    assert len(lines) == 2 + len(REQUIREMENTS)
    assert lines[2].startswith("| `dockerd` | engine | hard |")


def test_readme_table_escapes_pipes() -> None:
    """A '|' inside a cell should be escaped so the row keeps its columns."""
    row = Requirement("a|b", "kernel", "soft", why="x | y", probe="seccomp", lost="l", fix="f")
    line = markdown_table([row]).splitlines()[2]
    assert line == "| a\\|b | kernel | soft | x \\| y | l | f |  |"


def test_replace_block_touches_only_the_marked_part() -> None:
    """Text before and after the markers should survive a rewrite unchanged."""
    text = f"# Title\n\nintro\n\n{BEGIN}\nold table\n{END}\n\n## After\n"
    updated = replace_block(text)
    assert updated.startswith(f"# Title\n\nintro\n\n{BEGIN}\n")
    assert updated.endswith(f"{END}\n\n## After\n")
    assert "old table" not in updated
    assert extract_block(updated) == block().strip("\n")
    assert replace_block(updated) == updated


def test_readme_update_without_markers_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--update on a file without markers should fail with one line naming the fix."""
    target = tmp_path / "README.md"
    target.write_text("# no markers\n")
    status = cmd_readme.run(argparse.Namespace(update=str(target)))
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and BEGIN in err
    assert target.read_text() == "# no markers\n"
