"""The two rooms and the table: import rules that keep the launcher small and separate."""

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "docker_from_scratch"


def imports_of(path: Path, *, top_level_only: bool = False) -> set[str]:
    """Module names imported by a file (all of them, or only those run at import time)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def files_of(subpackage: str) -> list[Path]:
    return sorted((PACKAGE / subpackage).glob("*.py"))


@pytest.mark.parametrize("path", files_of("launcher"), ids=lambda p: p.name)
def test_launcher_never_imports_builder_or_doctor(path: Path) -> None:
    """launcher/ runs in the image: it should import neither builder/ nor doctor/."""
    bad = {n for n in imports_of(path) if n.startswith(("docker_from_scratch.builder", "docker_from_scratch.doctor"))}
    assert not bad, f"{path.name} imports {bad}"


@pytest.mark.parametrize("path", files_of("launcher") + files_of("requirements"), ids=lambda p: p.name)
def test_launcher_imports_only_stdlib_at_start_up(path: Path) -> None:
    """Module-level imports in the image's code should be the stdlib or our own package."""
    third_party = {
        name
        for name in imports_of(path, top_level_only=True)
        if name.split(".")[0] not in sys.stdlib_module_names and not name.startswith("docker_from_scratch")
    }
    assert not third_party, f"{path.name} imports {third_party} at start-up: import it where it is needed"


@pytest.mark.parametrize("path", files_of("requirements"), ids=lambda p: p.name)
def test_requirements_table_imports_none_of_the_rooms(path: Path) -> None:
    """requirements/ is shared data: it should import neither launcher/, builder/ nor doctor/."""
    rooms = ("docker_from_scratch.launcher", "docker_from_scratch.builder", "docker_from_scratch.doctor")
    bad = {n for n in imports_of(path) if n.startswith(rooms)}
    assert not bad, f"{path.name} imports {bad}"


HOST_SIDE = [*files_of("builder"), *files_of("doctor"), PACKAGE / "cli.py", PACKAGE / "host.py"]
BELOW_THE_ROOMS = [PACKAGE / "errors.py", PACKAGE / "parser.py"]


@pytest.mark.parametrize("path", HOST_SIDE, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_host_side_never_imports_launcher(path: Path) -> None:
    """The builder, the doctor and the host CLI should not import launcher/: shared facts live below."""
    bad = {n for n in imports_of(path) if n.startswith("docker_from_scratch.launcher")}
    assert not bad, f"{path.name} imports {bad}"


@pytest.mark.parametrize("path", BELOW_THE_ROOMS, ids=lambda p: p.name)
def test_shared_top_level_modules_import_none_of_the_rooms(path: Path) -> None:
    """errors.py and parser.py sit below every room: they should import none of them."""
    rooms = ("docker_from_scratch.launcher", "docker_from_scratch.builder", "docker_from_scratch.doctor")
    bad = {n for n in imports_of(path) if n.startswith(rooms)}
    assert not bad, f"{path.name} imports {bad}"


def test_launch_error_is_the_package_error() -> None:
    """The launcher's and the builder's errors should share the one base above both rooms."""
    from docker_from_scratch.builder.errors import BuildError
    from docker_from_scratch.errors import Error
    from docker_from_scratch.launcher.errors import LaunchError, UsageError

    assert issubclass(LaunchError, Error) and issubclass(BuildError, Error)
    assert UsageError("bad").exit_status == 2 and LaunchError("bad").exit_status == 1


SUBPROCESS_CALLS = {"run", "Popen", "call", "check_call", "check_output", "getoutput", "getstatusoutput"}


def starts_processes(path: Path) -> set[str]:
    """The subprocess functions a file calls (subprocess.X(...)), plus os.system and os.popen."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        func = node.func if isinstance(node, ast.Call) else None
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            owner, name = func.value.id, func.attr
            if (owner == "subprocess" and name in SUBPROCESS_CALLS) or (owner == "os" and name in ("system", "popen")):
                found.add(f"{owner}.{name}")
    return found


BEHIND_THE_DOOR = [p for p in HOST_SIDE if p != PACKAGE / "builder" / "proc.py"]


@pytest.mark.parametrize("path", BEHIND_THE_DOOR, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_host_side_starts_processes_only_through_the_builders_door(path: Path) -> None:
    """Every child of the builder, the doctor and the host CLI should start through builder/proc.py."""
    assert not starts_processes(path), f"{path.name} calls {starts_processes(path)}: use builder/proc.py"
