"""Module analysis and byte-compilation, run BY THE IMAGE'S OWN PYTHON VERSION.

This file is a script: :mod:`pyruntime` runs it with the suite's interpreter (for the
build host's architecture, from the unpacked packages), never imports it. Bytecode and
the standard library's import graph depend on the Python version, so the analysis must
run under the same version as the image (3.13 for trixie, 3.11 for bookworm), not
under the build host's Python. Standard library only; Python 3.11+.

The finder is ``modulefinder``'s idea on the AST instead of bytecode: it follows every
``import`` (also inside functions, which is where the launcher imports ctypes,
and ``importlib.import_module("literal")``) and resolves names with
``importlib.machinery.PathFinder`` without executing anything. Unlike
``modulefinder`` it skips code that cannot run in the image: ``if __name__ ==
"__main__":`` blocks (``heapq``'s self-test alone drags doctest, pdb, pydoc,
http.server and ssl in), ``if TYPE_CHECKING:`` blocks, and branches for other
platforms (``sys.platform``/``os.name`` compared with constants).

Input: a JSON file naming the roots, the extra search path (our package),
the excluded packages and the zip to write. Output (stdout): JSON with the modules
found, the extension modules the zip cannot hold, and what is missing.
"""

import sys

# Recorded first: what the interpreter imported while starting (with -S, as in the image).
STARTUP_MODULES = sorted(sys.modules)

import _imp  # noqa: E402
import ast  # noqa: E402
import importlib.machinery  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import py_compile  # noqa: E402
import tempfile  # noqa: E402
import zipfile  # noqa: E402
from typing import Any  # noqa: E402

ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can say: no build time leaks in
# The in-image `check` verb. What only it imports (argparse, typing, gettext, the doctor
# itself: ~70 KB deflated away) is deflated in the zip; what the launcher can import stays
# stored: inflating it would cost every container start ~6 ms (measured with the whole
# zip deflated), while `check` runs rarely.
CHECK_PACKAGE = "docker_from_scratch.doctor"
# What the image's platform guards evaluate to.
PLATFORM_VALUES = {("sys", "platform"): "linux", ("os", "name"): "posix"}
# Imports made by C extension modules, invisible to the AST: Python 3.14's _ctypes builds
# every Structure's layout with ctypes._layout (found when forky's image failed at
# pyroute2's import: "No module named 'ctypes._layout'"). Taken where the version has it.
EXTENSION_IMPORTS = {"_ctypes": ("ctypes._layout",)}


def arcname(name: str, path: str) -> str:
    """pkg.mod -> pkg/mod.pyc; pkg -> pkg/__init__.pyc."""
    parts = name.split(".")
    if os.path.basename(path).startswith("__init__."):
        parts.append("__init__")
    return "/".join(parts) + ".pyc"


# Everything is compiled as under -OO: without docstrings and asserts, which no code in
# the image reads (CPython's own test suite runs under -OO); 0.3 MB less (issue 18).
# zipimport loads a .pyc whatever level it was made at. The doctor keeps level 0:
# `docker-from-scratch check --help` prints cmd_check's docstring. tests/unit/
# test_builder_pyanalyse.py checks that no other module of ours reads a docstring.
OPTIMIZE = 2
DOCSTRINGS_KEPT = "docker_from_scratch.doctor"


def optimize_level(name: str) -> int:
    kept = name == DOCSTRINGS_KEPT or name.startswith(DOCSTRINGS_KEPT + ".")
    return 0 if kept else OPTIMIZE


def compile_module(source: str, display: str, scratch: str, optimize: int = 0) -> bytes:
    """Bytecode with an unchecked hash (PEP 552): no mtime, so builds are reproducible."""
    out = os.path.join(scratch, "out.pyc")
    py_compile.compile(
        source,
        cfile=out,
        dfile=display,
        doraise=True,
        optimize=optimize,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    with open(out, "rb") as handle:
        return handle.read()


def static_value(node: ast.expr) -> Any:
    """The value of a platform guard's operand, or a sentinel when it is not static."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return PLATFORM_VALUES.get((node.value.id, node.attr), NotImplemented)
    return NotImplemented


def guard_outcome(test: ast.expr) -> bool | None:
    """True/False when an ``if`` test is decidable for the image, else None."""
    if isinstance(test, ast.Name) and test.id == "TYPE_CHECKING":
        return False
    if isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING":
        return False
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        inner = guard_outcome(test.operand)
        return None if inner is None else not inner
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        left, right = test.left, test.comparators[0]
        is_name = isinstance(left, ast.Name) and left.id == "__name__"
        if is_name and isinstance(right, ast.Constant) and right.value == "__main__":
            return isinstance(test.ops[0], ast.NotEq)
        a, b = static_value(left), static_value(right)
        if a is NotImplemented or b is NotImplemented:
            return None
        if isinstance(test.ops[0], ast.Eq):
            return bool(a == b)
        if isinstance(test.ops[0], ast.NotEq):
            return bool(a != b)
        if isinstance(test.ops[0], ast.In):
            return bool(a in b)
        if isinstance(test.ops[0], ast.NotIn):
            return bool(a not in b)
    if (
        isinstance(test, ast.Call)
        and isinstance(test.func, ast.Attribute)
        and test.func.attr == "startswith"
        and len(test.args) == 1
    ):
        a, b = static_value(test.func.value), static_value(test.args[0])
        if isinstance(a, str) and isinstance(b, (str, tuple)):
            return a.startswith(b)
    return None


class ImportCollector(ast.NodeVisitor):
    """(level, module, names, lazy) of every import that can run in the image.

    ``lazy`` marks imports inside a function body: they run only when it is called.
    """

    def __init__(self) -> None:
        self.imports: list[tuple[int, str, tuple[str, ...], bool]] = []
        self.depth = 0

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        # A module-level __getattr__ (PEP 562) is how packages such as concurrent.futures
        # and unittest import parts of their public API on first use: not lazy here.
        api = self.depth == 0 and getattr(node, "name", "") == "__getattr__"
        self.depth += 0 if api else 1
        self.generic_visit(node)
        self.depth -= 0 if api else 1

    visit_AsyncFunctionDef = visit_FunctionDef
    visit_Lambda = visit_FunctionDef

    def visit_If(self, node: ast.If) -> None:
        outcome = guard_outcome(node.test)
        if outcome is not False:
            for child in node.body:
                self.visit(child)
        if outcome is not True:
            for child in node.orelse:
                self.visit(child)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.imports.append((0, alias.name, (), self.depth > 0))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        names = tuple(alias.name for alias in node.names if alias.name != "*")
        self.imports.append((node.level, node.module or "", names, self.depth > 0))

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in ("import_module", "__import__") and node.args:
            first = node.args[0]
            literal = isinstance(first, ast.Constant) and isinstance(first.value, str)
            if literal and not str(first.value).startswith("."):  # type: ignore[attr-defined]
                self.imports.append((0, str(first.value), (), self.depth > 0))  # type: ignore[attr-defined]
        self.generic_visit(node)


class Finder:
    """Resolve and follow imports from the roots; nothing is executed."""

    def __init__(self, path: list[str], excludes: list[str], eager_dirs: list[str]) -> None:
        self.path = path
        # Modules under these directories (our package) have every import
        # followed, lazy ones included: their lazy imports are deliberate and run on
        # some path (ctypes). In the standard library only import-time
        # imports are followed: its function-level imports serve functions the
        # launcher does not call (pickle's _test imports doctest, typing's helpers
        # import inspect, PathFinder.find_distributions imports importlib.metadata,
        # which imports email ...), and following them takes in most of the stdlib.
        self.eager_dirs = [os.path.join(os.path.realpath(d), "") for d in eager_dirs]
        self.skipped_lazy: set[str] = set()
        self.excludes = excludes
        self.specs: dict[str, Any] = {}  # name -> ModuleSpec or None (missing)
        self.missing: set[str] = set()
        self.pending: list[str] = []
        self.importer: dict[str, str] = {}  # first module that imported each one, for reports
        self.current = "<root>"

    def excluded(self, name: str) -> bool:
        return any(name == e or name.startswith(e + ".") for e in self.excludes)

    def find(self, name: str) -> Any:
        if name in self.specs:
            return self.specs[name]
        spec = None
        if not self.excluded(name) and name not in sys.builtin_module_names:
            parent, _, _ = name.rpartition(".")
            search: Any = self.path
            if parent:
                parent_spec = self.find(parent)
                search = parent_spec.submodule_search_locations if parent_spec else None
            if search is not None:
                spec = importlib.machinery.PathFinder.find_spec(name, list(search))
        self.specs[name] = spec
        if spec is not None:
            self.pending.append(name)
        return spec

    def want(self, name: str) -> None:
        """Mark ``name`` and its parent packages as imported."""
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            self.importer.setdefault(prefix, self.current)
            if self.find(prefix) is None:
                if prefix not in sys.builtin_module_names and not self.excluded(prefix):
                    self.missing.add(prefix)
                return

    def scan(self, name: str) -> None:
        spec = self.specs[name]
        for module in EXTENSION_IMPORTS.get(name, ()):
            if self.find(module) is not None:
                self.want(module)
        if not spec.origin or not spec.origin.endswith(".py"):
            return
        with open(spec.origin, "rb") as handle:
            tree = ast.parse(handle.read(), spec.origin)
        collector = ImportCollector()
        collector.visit(tree)
        is_package = spec.submodule_search_locations is not None
        package = name if is_package else name.rpartition(".")[0]
        origin = os.path.realpath(spec.origin)
        follow_lazy = any(origin.startswith(d) for d in self.eager_dirs)
        for level, module, names, lazy in collector.imports:
            if level:
                base = package.split(".")
                base = base[: len(base) - (level - 1)] if level > 1 else base
                module = ".".join([*base, module] if module else base)
            if not module:
                continue
            if lazy and not follow_lazy:
                if module not in sys.builtin_module_names and self.specs.get(module) is None:
                    self.skipped_lazy.add(module)
                continue
            self.want(module)
            spec_of_module = self.specs.get(module)
            if spec_of_module is not None and spec_of_module.submodule_search_locations is not None:
                for sub in names:
                    if self.find(f"{module}.{sub}") is not None:
                        self.want(f"{module}.{sub}")

    def run(self, roots: list[str]) -> None:
        for root in roots:
            self.want(root)
        while self.pending:
            self.current = self.pending.pop()
            self.scan(self.current)


def main() -> int:
    with open(sys.argv[1]) as handle:
        config = json.load(handle)
    finder = Finder(config["path"] + sys.path, config["excludes"], config["eager"])
    startup = {m for m in STARTUP_MODULES if m != "__main__"}
    roots = sorted(set(config["roots"]) | startup)
    finder.run(roots)
    launcher = Finder(config["path"] + sys.path, config["excludes"], config["eager"])
    launcher.run([r for r in roots if r != CHECK_PACKAGE and not r.startswith(CHECK_PACKAGE + ".")])
    for name in config.get("required", []):
        if finder.specs.get(name) is None:
            print(json.dumps({"error": f"cannot find {name} on {config['path']}"}))
            return 1
    sources: dict[str, str] = {}
    extensions: list[str] = []
    frozen: list[str] = []
    for name, spec in sorted(finder.specs.items()):
        if spec is None or not spec.origin:
            continue  # missing, or a namespace package
        if spec.origin.endswith(".py") and _imp.is_frozen(name):
            # The interpreter has it compiled in and FrozenImporter comes before the
            # zip on sys.meta_path: a zip copy would never be read. Its imports were
            # followed all the same (scan reads the source).
            frozen.append(name)
        elif spec.origin.endswith(".py"):
            sources[name] = spec.origin
        elif spec.origin.endswith(".so"):
            extensions.append(name)
    zip_prefix = config["zip_display"]
    with (
        tempfile.TemporaryDirectory() as scratch,
        zipfile.ZipFile(config["zip"], "w", zipfile.ZIP_STORED) as archive,
    ):
        for name in sorted(sources, key=lambda n: arcname(n, sources[n])):
            member = arcname(name, sources[name])
            data = compile_module(sources[name], f"{zip_prefix}/{member[:-1]}", scratch, optimize_level(name))
            info = zipfile.ZipInfo(member, date_time=ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.create_system = 3  # unix, whatever the build host
            stored = name in launcher.specs  # see CHECK_PACKAGE
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            archive.writestr(info, data, compresslevel=None if stored else 9)
    missing = sorted(finder.missing)
    print(
        json.dumps(
            {
                "version": f"{sys.version_info[0]}.{sys.version_info[1]}",
                "startup": STARTUP_MODULES,
                "sources": sources,
                "frozen": frozen,
                "extensions": extensions,
                "builtins": sorted(sys.builtin_module_names),
                "missing": missing,
                "importer": {name: finder.importer.get(name, "") for name in sources},
                "skipped_lazy": sorted(finder.skipped_lazy - set(sources)),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
