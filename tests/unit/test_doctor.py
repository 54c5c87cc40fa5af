"""The `check` doctor: report, exit status, text and JSON, and the in-image entry point."""

import argparse
import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from docker_from_scratch.doctor import cli, cmd_check
from docker_from_scratch.doctor.report import as_data, as_text, run_check, where_am_i
from docker_from_scratch.requirements.table import by_name

FIXTURES = Path(__file__).parent / "fixtures" / "doctor"
DOCKER_DEFAULT = os.fspath(FIXTURES / "docker-default")
HOST_V1 = os.fspath(FIXTURES / "host-v1")
SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(autouse=True)
def fixture_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """PATH as in the image: the fixture trees carry the engine's programs in /usr/bin."""
    monkeypatch.setenv("PATH", "/usr/bin")


def check_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cmd_check.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_check_default_container_exits_1_naming_the_capabilities(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A default container should exit 1, the last line naming the missing capabilities."""
    status = cmd_check.run(check_args("--root", DOCKER_DEFAULT))
    lines = capsys.readouterr().out.splitlines()
    assert status == 1
    assert lines[-1].startswith("Docker cannot run here: missing ")
    assert "CAP_SYS_ADMIN, CAP_NET_ADMIN" in lines[-1]
    assert "fix: run the container with --privileged" in lines[-1]


def test_check_text_shows_read_only_sys_as_repaired_at_start(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The read-only /sys row should be listed missing, with dockerlaunch's repair noted."""
    cmd_check.run(check_args("--root", DOCKER_DEFAULT))
    out = capsys.readouterr().out
    sys_line = next(line for line in out.splitlines() if line.startswith("writable /sys "))
    assert "missing" in sys_line and "/sys is read-only" in sys_line
    assert "dockerlaunch repairs this at start" in out


def test_check_json_shape(capsys: pytest.CaptureFixture[str]) -> None:
    """--json should print one object: verdict fields and one entry per row."""
    status = cmd_check.run(check_args("--json", "--root", DOCKER_DEFAULT))
    data = json.loads(capsys.readouterr().out)
    assert status == 1 and data["docker_can_run"] is False
    assert set(data) == {
        "docker_can_run", "where", "kernel", "seconds", "missing_hard", "verdict", "requirements",
    }  # fmt: skip
    assert data["missing_hard"][:2] == ["CAP_SYS_ADMIN", "CAP_NET_ADMIN"]
    rows = {row["name"]: row for row in data["requirements"]}
    assert rows["writable /sys"]["status"] == "missing"
    assert rows["writable /sys"]["blocking"] is False
    assert rows["CAP_SYS_ADMIN"]["blocking"] is True
    assert rows["CAP_SYS_ADMIN"]["fix"].startswith("run the container with --privileged, or --cap-add SYS_ADMIN")
    assert rows["root"] == {
        "name": "root", "kind": "privilege", "level": "hard", "status": "found", "ok": True,
        "blocking": False, "fixed_by_launcher": False, "detail": "uid 0",
        "why": by_name("root").why, "lost": "", "fix": "",
    }  # fmt: skip


def test_check_names_iptables_false_without_iptables(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """iptables missing from PATH: the row's fix should name --iptables=false."""
    monkeypatch.setenv("PATH", "/nonexistent")
    cmd_check.run(check_args("--json", "--root", HOST_V1))
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)["requirements"]}
    assert rows["iptables"]["status"] == "missing"
    assert "--iptables=false" in rows["iptables"]["fix"]


def test_check_data_root_option_replaces_the_path(capsys: pytest.CaptureFixture[str]) -> None:
    """--data-root should be the path the not-overlay row tests."""
    cmd_check.run(check_args("--json", "--root", DOCKER_DEFAULT, "--data-root", "/data"))
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)["requirements"]}
    assert rows["data root not on overlayfs"]["detail"] == "/data is on overlay (mounted at /)"


def test_check_exit_0_when_only_soft_rows_miss(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only soft and repaired rows missing: Docker can run, and the verdict says what is lost."""
    rows = [by_name("root"), by_name("writable /sys"), by_name("CAP_SYS_MODULE")]
    report = run_check(rows, root=DOCKER_DEFAULT)
    assert report.docker_can_run
    assert report.verdict() == ("Docker can run here; missing, with losses: writable /sys, CAP_SYS_MODULE")
    assert as_data(report)["missing_hard"] == []


def test_check_text_ends_with_the_verdict() -> None:
    """The text report's last line should be the verdict, and the header its kernel."""
    report = run_check([by_name("root")], root=HOST_V1)
    text = as_text(report)
    assert text.splitlines()[0].startswith("docker-from-scratch check: ")
    assert "kernel 6.18.44-fc-v595" in text.splitlines()[0]
    assert text.splitlines()[-1] == "Docker can run here; every requirement was found"


def test_where_am_i_from_pid1_cgroup() -> None:
    """PID 1 in a /docker/... cgroup should be reported as a container."""
    assert where_am_i(DOCKER_DEFAULT) == "container"


def test_where_am_i_marker_on_overlay_root() -> None:
    """/.dockerenv on an overlay root (cgroup v2 namespace hides the path) is a container."""
    assert where_am_i(os.fspath(FIXTURES / "container-nomods")) == "container"


def test_where_am_i_host() -> None:
    """The build machine's fixture (PID 1 in the root cgroup) should be a host."""
    assert where_am_i(HOST_V1) == "host"


def test_doctor_cli_main_runs_check(capsys: pytest.CaptureFixture[str]) -> None:
    """The in-image entry should run `check` and exit with its status."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["check", "--json", "--root", DOCKER_DEFAULT])
    assert exit_info.value.code == 1
    assert json.loads(capsys.readouterr().out)["where"] == "container"


def test_doctor_cli_rejects_builder_verbs(capsys: pytest.CaptureFixture[str]) -> None:
    """The image knows no `build`: usage error, exit 2."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["build"])
    assert exit_info.value.code == 2


def test_doctor_imports_only_stdlib_and_requirements() -> None:
    """doctor/ runs in the image: it should import the stdlib, the shared modules and itself only."""
    for path in sorted((SRC / "docker_from_scratch" / "doctor").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                allowed = name.split(".")[0] in sys.stdlib_module_names or name.startswith(
                    ("docker_from_scratch.requirements", "docker_from_scratch.doctor", "docker_from_scratch.parser")
                )
                assert allowed, f"{path.name} imports {name}"


def test_doctor_cli_runs_isolated_like_the_image() -> None:
    """`python3 -S` with only src/ on the path (no site-packages) should run check."""
    result = subprocess.run(
        [sys.executable, "-S", "-c",
         "import sys; from docker_from_scratch.doctor.cli import main; "
         f"main(['check', '--root', {DOCKER_DEFAULT!r}])"],
        env={"PYTHONPATH": os.fspath(SRC), "PATH": "/nonexistent"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines()[-1].startswith("Docker cannot run here: missing dockerd")
