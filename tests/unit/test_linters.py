"""Lint and types as tests, so the README's test command covers them."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ruff_finds_nothing() -> None:
    """ruff should report no problem in src/, tests/ and bench/."""
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "src", "tests", "bench"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_passes() -> None:
    """mypy --strict (pyproject.toml) should pass on the package."""
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_passes_on_the_benchmarks() -> None:
    """mypy --strict should pass on bench/ too, so the benchmarks cannot rot unseen."""
    command = [sys.executable, "-m", "mypy", "--strict", "bench"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
