"""The minimal CPython for the launcher: the suite's interpreter plus only what it imports.

Which modules go in is found by ANALYSIS (``modulefinder``, which also sees imports
inside functions, such as the launcher's lazy ``ctypes``), run by
:mod:`pyanalyse` under the suite's own interpreter, because bytecode and the standard
library differ between Python versions. That interpreter runs for the BUILD HOST's
architecture, from its unpacked packages, through its own dynamic loader
(``ld-linux --library-path ... python3.X``): ``.pyc`` files do not depend on the
architecture, so an arm64 image gets bytecode compiled by the amd64 interpreter of the
same suite. Only extension modules (``.so``) are taken from the target architecture.

Roots of the analysis: every module of ``docker_from_scratch.launcher``, ``.doctor``
and ``.requirements`` (the in-image entry points ``launcher.cli`` and ``doctor.cli``
among them; taking all of them also covers modules loaded with ``importlib``) and
what the interpreter itself imports while starting. ``builder`` and the host-side
modules are excluded.

Layout in the image (CPython's getpath, Modules/getpath.py: it finds ``prefix`` by
searching up from the executable for ``lib/pythonXY.zip`` and ``exec_prefix`` for
``lib/pythonX.Y/lib-dynload``; with both present it starts without warnings):
    /usr/bin/pythonX.Y, /usr/bin/python3 -> pythonX.Y
    /usr/lib/pythonXY.zip              stdlib + our package, .pyc only
    /usr/lib/pythonX.Y/lib-dynload/    the extension modules found, with ELF closure
The zip is stored, except what only the in-image `check` imports (pyanalyse.CHECK_PACKAGE):
the launcher's imports skip decompression; the image layer is
compressed as a whole anyway.
"""

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import pkgutil
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import docker_from_scratch
from docker_from_scratch.builder import debs
from docker_from_scratch.builder.apt import AptRepo
from docker_from_scratch.builder.elf import arch_info
from docker_from_scratch.builder.errors import BuildError
from docker_from_scratch.builder.proc import run_tool
from docker_from_scratch.builder.tree import Entry, FileTree

# Subpackages of docker_from_scratch that run in the image.
IMAGE_SUBPACKAGES = ("launcher", "doctor", "requirements")
# Never in the image: the builder needs pyelftools and apt, the host CLI the builder.
EXCLUDED = (
    "docker_from_scratch.builder", "docker_from_scratch.cli", "elftools",
    # Reached only through the stdlib's optional try-imports: http.client's "import ssl"
    # (HTTPS; the launcher speaks HTTP on dockerd's unix socket, TLS certificates come
    # from libcrypto through ctypes) and shutil's bz2/lzma (archive formats the launcher never
    # writes). With them go _ssl, _bz2, _lzma and their libraries: about 0.5 MB.
    "ssl", "bz2", "lzma", "_ssl", "_bz2", "_lzma",
    # Pure-Python fallbacks behind try-imports of modules CPython always compiles in:
    # abc.py's _py_abc (for _abc) and threading's _threading_local (for _thread._local).
    "_py_abc", "_threading_local",
    # traceback: threading imports it only when _thread has no _excepthook (it always
    # has); uncaught exceptions print through the interpreter's C fallback without it.
    "traceback",
    # Python 3.14 (forky): shutil's try-import of compression.zstd (with _zstd), like
    # bz2 and lzma above; and importlib's own _bootstrap modules, which importlib/__init__
    # takes from the frozen _frozen_importlib(_external): a zip copy is never read.
    "compression", "_zstd", "importlib._bootstrap", "importlib._bootstrap_external",
)  # fmt: skip
# Third-party distributions the launcher imports in the image: none since the bridge
# step speaks netlink with the stdlib (launcher/netlink.py says why); pyelftools, the
# project's one dependency, is the builder's. A distribution named here is zipped whole.
IMAGE_DISTRIBUTIONS: tuple[str, ...] = ()
# Packages whose modules are loaded by listing the package (no import statement names
# them, e.g. plugins found with pkgutil.iter_modules): their every module goes in.
DYNAMIC_PACKAGES: tuple[str, ...] = ()
# Modules no import statement names but every program can reach: codecs are looked up
# by name (encodings.search_function) when text is decoded with an explicit encoding
# (subprocess text mode, bytes.decode("ascii") through codecs.lookup, idna for
# non-ASCII host names in socket calls).
# locale: argparse's every parser calls gettext, whose function-level "import locale"
# (gettext._expand_lang) the analysis does not follow in the stdlib; subprocess brought it
# in at import time before the launcher stopped reaching subprocess and http.client.
# textwrap: argparse's help formatter imports it inside _split_lines and _fill_text;
# linecache: warnings imports it inside showwarning; _colorize: 3.14's argparse imports it
# inside _set_color. All three came in through traceback before it was excluded.
IMPLICIT_MODULES = (
    "encodings.ascii", "encodings.latin_1", "encodings.utf_8", "encodings.idna", "locale",
    "textwrap", "linecache", "_colorize",
)  # fmt: skip
# Bump when the analysis or the zip layout changes, so cached results are not reused.
ANALYSIS_VERSION = 5


@dataclass(frozen=True)
class PythonVersion:
    """The suite's Python: ``3.13`` and the Debian packages that hold it."""

    version: str

    @property
    def nodot(self) -> str:
        return self.version.replace(".", "")

    @property
    def packages(self) -> tuple[str, ...]:
        """Interpreter, the minimal stdlib (encodings, os ...) and the rest (ctypes, json ...)."""
        v = self.version
        return (f"python{v}-minimal", f"libpython{v}-minimal", f"libpython{v}-stdlib")

    @property
    def interpreter(self) -> str:
        return f"/usr/bin/python{self.version}"

    @property
    def zip_path(self) -> str:
        return f"/usr/lib/python{self.nodot}.zip"

    @property
    def dynload_dir(self) -> str:
        return f"/usr/lib/python{self.version}/lib-dynload"


@dataclass(frozen=True)
class Analysis:
    """What the analysis found: zip (on disk), extension modules, startup modules."""

    zip_file: Path
    extensions: tuple[str, ...]
    modules: tuple[str, ...]
    missing: tuple[str, ...]


def suite_python(repo: AptRepo) -> PythonVersion:
    """The suite's default Python, from python3-minimal's dependency on pythonX.Y-minimal."""
    fields = repo.show(["python3-minimal"]).get("python3-minimal")
    if fields is None:
        raise BuildError(f"{repo.suite} has no python3-minimal")
    depends = fields.get("Pre-Depends", "") + "," + fields.get("Depends", "")
    match = re.search(r"python(3\.\d+)-minimal", depends)
    if not match:
        raise BuildError(f"cannot tell {repo.suite}'s Python version from python3-minimal")
    return PythonVersion(match[1])


def host_arch() -> str:
    return run_tool(["dpkg", "--print-architecture"]).strip()


def _package_source_files() -> list[Path]:
    package_dir = Path(docker_from_scratch.__file__).parent
    files = [package_dir / "__init__.py"]
    for sub in IMAGE_SUBPACKAGES:
        files += sorted((package_dir / sub).rglob("*.py"))
    return files


def analysis_roots() -> list[str]:
    """Every module of the image's subpackages, as dotted names."""
    package_dir = Path(docker_from_scratch.__file__).parent
    roots = ["docker_from_scratch"]
    for path in _package_source_files()[1:]:
        rel = path.relative_to(package_dir.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        roots.append(".".join(parts))
    return roots


def dynamic_package_modules() -> list[str]:
    """Every module of :data:`DYNAMIC_PACKAGES`, as installed on the build host."""
    names = []
    for package in DYNAMIC_PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise BuildError(f"{package} is not installed", hint="run scripts/setup")
        names.append(package)
        for info in pkgutil.iter_modules(list(spec.submodule_search_locations)):
            names.append(f"{package}.{info.name}")
    return sorted(names)


def _distribution_dirs() -> dict[str, Path]:
    dirs = {}
    for name in IMAGE_DISTRIBUTIONS:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise BuildError(
                f"the launcher needs {name}, which is not installed here",
                hint="run scripts/setup (pip install -e .)",
            )
        dirs[name] = Path(next(iter(spec.submodule_search_locations)))
    return dirs


def _cache_key(debs_used: list[Path], python: PythonVersion) -> str:
    digest = hashlib.sha256()
    digest.update(f"v{ANALYSIS_VERSION} {python.version}\n".encode())
    # The analysis's own inputs: a changed exclusion must not reuse an older zip.
    digest.update(json.dumps([EXCLUDED, IMAGE_DISTRIBUTIONS, DYNAMIC_PACKAGES, IMPLICIT_MODULES]).encode())
    digest.update((Path(__file__).parent / "pyanalyse.py").read_bytes())
    for deb in sorted(debs_used):
        digest.update(deb.name.encode() + b"\n")
    package_dir = Path(docker_from_scratch.__file__).parent
    for path in _package_source_files():
        digest.update(str(path.relative_to(package_dir)).encode() + b"\0" + path.read_bytes())
    for name in IMAGE_DISTRIBUTIONS:
        digest.update(f"{name}=={importlib.metadata.version(name)}\n".encode())
    return digest.hexdigest()[:24]


def stage_root(entries: list[Entry], root: Path) -> None:
    """A real directory tree (hard links into the unpack cache) to run the interpreter from.

    Built beside ``root`` and renamed into place, so concurrent builds never see half a
    tree; an existing ``root`` (same packages: its name has their hash) is reused.
    """
    if root.is_dir():
        return
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}-"))
    try:
        for entry in entries:
            dest = staging / entry.path.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            if dest.exists() or dest.is_symlink():
                dest.unlink()
            if entry.kind == "symlink":
                dest.symlink_to(entry.target)
            elif entry.kind == "file" and entry.source is not None:
                try:
                    os.link(entry.source, dest)
                except OSError:
                    shutil.copy2(entry.source, dest)
        for entry in entries:  # hard links after their targets exist
            if entry.kind == "hardlink":
                dest = staging / entry.path.lstrip("/")
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.link(staging / entry.target.lstrip("/"), dest)
        try:
            staging.rename(root)
        except OSError:
            if not root.is_dir():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def analyse(repo: AptRepo, python: PythonVersion) -> Analysis:
    """Find and byte-compile the modules the image needs (cached by input hash).

    ``repo`` is the suite's repository for any architecture and ``python`` its Python,
    both made once by the caller: the analysis runs the build host's interpreter, so it
    takes the host-architecture view of the same repository.
    """
    arch = host_arch()
    repo = repo.for_arch(arch)
    suite, cache_dir, progress = repo.suite, repo.cache_dir, repo.progress
    refs = repo.closure(python.packages)
    deb_paths = list(repo.download(refs).values())
    key = _cache_key(deb_paths, python)
    out_dir = cache_dir / "pyruntime" / f"{suite}-{key}"
    result_file = out_dir / "analysis.json"
    zip_file = out_dir / f"python{python.nodot}.zip"
    if not result_file.is_file():
        progress(f"python: analysing imports with {suite}'s python{python.version}")
        entries = [e for deb in deb_paths for e in debs.unpack(deb, cache_dir)]
        debs_key = hashlib.sha256("\n".join(sorted(d.name for d in deb_paths)).encode()).hexdigest()[:16]
        root = cache_dir / "pyroot" / f"{suite}-{arch}-{debs_key}"
        stage_root(entries, root)
        tree = FileTree(entries)
        loader = root / tree.resolve(arch_info(arch).loader).lstrip("/")
        libdir = root / "usr" / "lib" / arch_info(arch).triplet
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
            search = Path(tmp) / "path"
            search.mkdir()
            (search / "docker_from_scratch").symlink_to(Path(docker_from_scratch.__file__).parent)
            eager = [os.fspath(Path(docker_from_scratch.__file__).parent)]
            for name, directory in _distribution_dirs().items():
                (search / name).symlink_to(directory)
                eager.append(os.fspath(directory))
            config = {
                "roots": analysis_roots() + dynamic_package_modules() + list(IMPLICIT_MODULES),
                "eager": eager,
                "required": ["docker_from_scratch"],
                "path": [os.fspath(search)],
                "excludes": list(EXCLUDED),
                "zip": os.fspath(Path(tmp) / zip_file.name),
                "zip_display": python.zip_path,
            }
            config_file = Path(tmp) / "config.json"
            config_file.write_text(json.dumps(config))
            env = {"PYTHONHOME": os.fspath(root / "usr"), "LC_ALL": "C", "PATH": "/usr/bin:/bin"}
            output = run_tool(
                [
                    loader, "--library-path", libdir, root / python.interpreter.lstrip("/"),
                    "-S", "-s", "-B", Path(__file__).parent / "pyanalyse.py", config_file,
                ],
                env=env,
                hint="the suite's Python could not analyse the launcher",
            )  # fmt: skip
            found = json.loads(output)
            if "error" in found:
                raise BuildError(found["error"])
            if found["version"] != python.version:
                raise BuildError(f"analysis ran python{found['version']}, not {python.version}")
            # zip first, result last: the result's presence means the zip is complete
            os.replace(Path(tmp) / zip_file.name, zip_file)
            partial = result_file.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(json.dumps(found, indent=1, sort_keys=True))
            os.replace(partial, result_file)
    found = json.loads(result_file.read_text())
    return Analysis(
        zip_file=zip_file,
        extensions=tuple(found["extensions"]),
        modules=tuple(sorted(found["sources"])),
        missing=tuple(found["missing"]),
    )


def extension_files(tree: FileTree, python: PythonVersion, extensions: tuple[str, ...]) -> list[str]:
    """The target architecture's file for each extension module (by module name)."""
    prefix = python.dynload_dir + "/"
    by_module: dict[str, str] = {}
    for entry in tree:
        if entry.path.startswith(prefix) and entry.path.endswith(".so"):
            by_module[entry.path[len(prefix) :].split(".", 1)[0]] = entry.path
    missing = [name for name in extensions if name.rpartition(".")[2] not in by_module]
    if missing:
        raise BuildError(f"no extension module file for {', '.join(missing)} in {python.dynload_dir}")
    return sorted(by_module[name.rpartition(".")[2]] for name in extensions)
