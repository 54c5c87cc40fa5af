"""`docker-from-scratch check` on this machine for real, and in throw-away mount namespaces
where /sys is read-only or the data root sits on a real overlayfs."""

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from docker_from_scratch.requirements.table import REQUIREMENTS

pytestmark = pytest.mark.integration

CHECK = [sys.executable, "-m", "docker_from_scratch.cli", "check"]


def run_check(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CHECK, *args], env={**os.environ, **(env or {})},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def run_check_in_namespace(setup: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `check` after ``setup`` (shell) in a private mount namespace, gone when it exits."""
    script = f"set -e; {setup}; exec {shlex.join([*CHECK, *args])}"
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def rows_of(stdout: str) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in json.loads(stdout)["requirements"]}


def test_check_host_exit_status_agrees_with_the_host_engine(engine: None) -> None:
    """On this machine the host engine runs, so check should find Docker can run: exit 0."""
    result = run_check("--json")
    data = json.loads(result.stdout)
    print(f"check on the host: {data['seconds'] * 1000:.1f} ms for {len(data['requirements'])} rows")
    assert result.returncode == 0, data["verdict"]
    assert data["docker_can_run"] is True and data["missing_hard"] == []


def test_check_host_json_has_every_row_once() -> None:
    """The JSON report should carry each table row once, in the table's order."""
    data = json.loads(run_check("--json").stdout)
    assert [row["name"] for row in data["requirements"]] == [r.name for r in REQUIREMENTS]
    for row in data["requirements"]:
        assert row["status"] in ("found", "missing")
        assert (row["fix"] == "") is row["ok"]


def test_check_host_text_ends_with_the_verdict() -> None:
    """The text report's last line should be the same verdict as the JSON one."""
    text = run_check().stdout
    verdict = json.loads(run_check("--json").stdout)["verdict"]
    assert text.splitlines()[-1] == verdict


def test_check_without_iptables_names_iptables_false(tmp_path: Path) -> None:
    """With iptables removed from PATH, the iptables row should be missing and its fix
    name --iptables=false; a soft row: Docker can still run."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for row in REQUIREMENTS:
        if row.probe in ("program", "git-subcommand") and row.target != "iptables":
            found = shutil.which(row.target if row.probe == "program" else "git")
            if found and not (bin_dir / os.path.basename(found)).exists():
                (bin_dir / os.path.basename(found)).symlink_to(found)
    result = run_check("--json", env={"PATH": os.fspath(bin_dir)})
    rows = rows_of(result.stdout)
    assert rows["iptables"]["status"] == "missing"
    assert rows["iptables"]["detail"] == "no iptables on PATH"
    assert "--iptables=false" in rows["iptables"]["fix"]
    assert "--iptables=false" in rows["iptables"]["lost"]
    assert rows["dockerd"]["status"] == "found"
    assert result.returncode == 0


def test_check_names_read_only_sys_without_blocking() -> None:
    """/sys remounted read-only: the row should be missing, noted as repaired at start,
    and not stop Docker (dockerlaunch remounts it; CAP_SYS_ADMIN is there)."""
    result = run_check_in_namespace("mount -o remount,bind,ro /sys", "--json")
    rows = rows_of(result.stdout)
    assert rows["writable /sys"]["detail"] == "/sys is read-only (sysfs at /sys)"
    assert rows["writable /sys"]["blocking"] is False
    assert result.returncode == 0


def test_check_data_root_on_overlayfs_is_named(tmp_path: Path) -> None:
    """A data root on a real overlayfs mount should be reported missing, with the fix."""
    for name in ("lower", "upper", "work", "merged"):
        (tmp_path / name).mkdir()
    merged = tmp_path / "merged"
    options = f"lowerdir={tmp_path}/lower,upperdir={tmp_path}/upper,workdir={tmp_path}/work"
    result = run_check_in_namespace(
        f"mount -t overlay overlay -o {options} {merged}",
        "--json", "--data-root", f"{merged}/var/lib/docker",
    )  # fmt: skip
    row = rows_of(result.stdout)["data root not on overlayfs"]
    assert row["status"] == "missing"
    assert row["detail"] == f"{merged}/var/lib/docker is on overlay (mounted at {merged})"
    assert "-v dind-data:/var/lib/docker" in row["fix"]


def test_check_data_root_on_tmpfs_is_found(tmp_path: Path) -> None:
    """A data root on its own tmpfs should pass the overlayfs row."""
    result = run_check_in_namespace(f"mount -t tmpfs tmpfs {tmp_path}", "--json", "--data-root", os.fspath(tmp_path))
    row = rows_of(result.stdout)["data root not on overlayfs"]
    assert row["status"] == "found" and "on tmpfs" in row["detail"]
