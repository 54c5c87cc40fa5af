"""The import analysis that picks the image's Python modules (run here under the host's Python)."""

import ast
import sys
import textwrap
from pathlib import Path

from docker_from_scratch.builder.pyanalyse import Finder, ImportCollector, arcname, guard_outcome


def imports(source: str) -> list[tuple[int, str, tuple[str, ...], bool]]:
    collector = ImportCollector()
    collector.visit(ast.parse(textwrap.dedent(source)))
    return collector.imports


def test_collector_sees_function_level_imports_as_lazy() -> None:
    """An import inside a function should be found and marked lazy; a module-level one not."""
    found = imports(
        """
        import os
        def bridge():
            from pyroute2 import IPRoute
        """
    )
    assert (0, "os", (), False) in found
    assert (0, "pyroute2", ("IPRoute",), True) in found


def test_collector_skips_main_blocks_type_checking_and_other_platforms() -> None:
    """__main__ self-tests, TYPE_CHECKING imports and win32/nt branches should not count."""
    found = imports(
        """
        import sys, os
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            import typing_only
        if sys.platform == "win32":
            import winreg
        else:
            import fcntl
        if os.name == "nt":
            import msvcrt
        if sys.platform.startswith("darwin"):
            import _scproxy
        if __name__ == "__main__":
            import doctest
        """
    )
    names = {module for _, module, _, _ in found}
    assert "fcntl" in names
    assert not names & {"typing_only", "winreg", "msvcrt", "_scproxy", "doctest"}


def test_module_getattr_imports_are_part_of_the_api() -> None:
    """Imports in a module-level __getattr__ (PEP 562) should not be lazy: the API needs them."""
    found = imports(
        """
        def __getattr__(name):
            from .thread import ThreadPoolExecutor
            return ThreadPoolExecutor
        """
    )
    assert found == [(1, "thread", ("ThreadPoolExecutor",), False)]


def test_guard_outcome_is_unknown_for_runtime_conditions() -> None:
    """A condition that depends on run time should keep both branches."""
    assert guard_outcome(ast.parse("_mswindows", mode="eval").body) is None
    assert guard_outcome(ast.parse("sys.platform != 'win32'", mode="eval").body) is True


def test_finder_follows_lazy_imports_only_in_our_code(tmp_path: Path) -> None:
    """Our package's lazy imports should be followed; a stdlib module's lazy ones should not."""
    package = tmp_path / "ourpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "cli.py").write_text("import json\ndef f():\n    import ctypes\n    from . import helper\n")
    (package / "helper.py").write_text("X = 1\n")
    finder = Finder([str(tmp_path), *sys.path], excludes=["ourpkg.excluded"], eager_dirs=[str(package)])
    finder.run(["ourpkg.cli"])
    found = {name for name, spec in finder.specs.items() if spec is not None}
    assert {"ourpkg", "ourpkg.cli", "ourpkg.helper", "json", "ctypes"} <= found
    # json.decoder imports re at module level (followed); pickle's _test() imports doctest lazily
    finder.run(["pickle"])
    assert "doctest" not in {name for name, spec in finder.specs.items() if spec is not None}
    assert "doctest" in finder.skipped_lazy


def test_arcname_puts_packages_at_their_init() -> None:
    """Module names should map to zip members as zipimport looks them up."""
    member = arcname("docker_from_scratch.launcher", "/x/launcher/__init__.py")
    assert member == "docker_from_scratch/launcher/__init__.pyc"
    assert arcname("json.decoder", "/usr/lib/python3.13/json/decoder.py") == "json/decoder.pyc"


def test_finder_adds_what_c_extensions_import(tmp_path: Path) -> None:
    """_ctypes should bring ctypes._layout where the version has it (3.14), and nothing where not."""
    (tmp_path / "ctypes").mkdir()
    (tmp_path / "ctypes" / "__init__.py").write_text("import _ctypes\n")
    (tmp_path / "_ctypes.py").write_text("")  # stands in for the extension: only its name matters
    finder = Finder([str(tmp_path)], excludes=[], eager_dirs=[])
    finder.run(["ctypes"])
    assert "ctypes._layout" not in finder.missing and finder.specs.get("ctypes._layout") is None
    (tmp_path / "ctypes" / "_layout.py").write_text("")
    finder = Finder([str(tmp_path)], excludes=[], eager_dirs=[])
    finder.run(["ctypes"])
    assert finder.specs.get("ctypes._layout") is not None


def test_image_modules_compiled_without_docstrings_never_read_one() -> None:
    """No in-image module of ours compiled as under -OO should read a __doc__ (it would be None)."""
    from docker_from_scratch.builder.pyanalyse import OPTIMIZE, optimize_level
    from docker_from_scratch.builder.pyruntime import IMAGE_SUBPACKAGES

    package = Path(__file__).resolve().parents[2] / "src" / "docker_from_scratch"
    readers = []
    for sub in IMAGE_SUBPACKAGES:
        for path in sorted((package / sub).rglob("*.py")):
            name = ".".join(("docker_from_scratch", *path.relative_to(package).with_suffix("").parts))
            if optimize_level(name.removesuffix(".__init__")) != OPTIMIZE:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if (isinstance(node, ast.Attribute) and node.attr == "__doc__") or (
                    isinstance(node, ast.Name) and node.id == "__doc__"
                ):
                    readers.append(f"{name}:{node.lineno}")
    assert optimize_level("docker_from_scratch.doctor.cmd_check") == 0
    assert optimize_level("docker_from_scratch.launcher.cli") == OPTIMIZE == optimize_level("typing")
    assert readers == [], f"these read docstrings: keep their module at level 0 ({readers})"
