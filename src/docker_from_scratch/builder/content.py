"""What goes into the image: the requirement table's rows, their ELF closure, Python, us.

The decision comes from ``requirements.table.image_rows(slim=...)`` only. For each row:
- ``packages``: where to look, in order; packages the suite lacks are skipped (bookworm
  has no docker-cli: its docker.io ships the client). Every program and file is taken
  from the first of the row's packages that has it.
- ``programs``: looked up in the packages' bin directories (/usr/bin, /usr/sbin after
  merging /usr), taken with their symlink chain and shared-library closure.
- ``files``: absolute paths, also with their closure; the CA bundle is made here
  (:func:`ca_bundle`), since Debian makes it in a maintainer script.
- ``links``: symlinks Debian creates with update-alternatives or maintainer scripts.
- a ``library`` row: its soname from the packages' library directories, with its closure.

The packages' Depends closure is fetched and unpacked because it is where the shared
libraries come from (apt resolves it exactly as an installation would), but nothing
of it enters the image unless a DT_NEEDED entry, a loader or a dlopen list reaches it.

Besides the rows: the Python runtime (:mod:`pyruntime`), the two entry scripts, the
minimal /etc (passwd and group with uid 0 for ssh, the CA bundle), each also under
/usr/etc for the export tarball, the merged-/usr top-level links and a few directories.
"""

import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from docker_from_scratch.builder import debs, envsubst, pyruntime
from docker_from_scratch.builder.apt import AptRepo, DebRef, Progress, print_progress
from docker_from_scratch.builder.elf import Closure, arch_info, default_library_dirs
from docker_from_scratch.builder.errors import BuildError
from docker_from_scratch.builder.tree import Entry, FileTree
from docker_from_scratch.requirements.layout import DATA_ROOT, GROUP, LAUNCHER, PASSWD
from docker_from_scratch.requirements.table import Requirement, image_rows

BIN_DIRS = ("/usr/bin", "/usr/sbin")
# --plugins: Debian's CLI plugins, where docker:dind ships them and the docker CLI looks.
# Not requirement rows: the engine runs without them (the seed's "only what Docker needs").
PLUGIN_DIR = "/usr/libexec/docker/cli-plugins"
PLUGINS = {"buildx": "docker-buildx", "compose": "docker-compose"}  # plugin -> Debian package
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# /etc files the launcher copies from /usr/etc when missing (export onto other distros).
ETC_DEFAULTS = ("/etc/passwd", "/etc/group", CA_BUNDLE)
LAUNCHER_SCRIPT = """#!/usr/bin/python3 -IS
import sys

from docker_from_scratch.launcher.cli import main

sys.exit(main())
"""
# docker:dind's client entry point, under its name and path: CI configurations call it.
CLIENT_ENTRYPOINT = "/usr/local/bin/docker-entrypoint.sh"
CLIENT_SCRIPT = """#!/usr/bin/python3 -IS
from docker_from_scratch.launcher.client import main

main()
"""
DOCTOR_SCRIPT = """#!/usr/bin/python3 -IS
import sys

from docker_from_scratch.doctor.cli import main

sys.exit(main())
"""
# Directories the engine and tools expect: /tmp for git and docker build, /root as
# root's home (ssh's known_hosts), /run for sockets and pid files (/var/run points
# there, as on Debian), /var/lib/docker for the volume.
DIRECTORIES = {
    "/etc": 0o755,
    "/root": 0o700,
    "/run": 0o755,
    "/tmp": 0o1777,
    DATA_ROOT: 0o710,
}
SYMLINKS = {"/var/run": "../run"}
# The rootless variant, as docker:dind-rootless: user `rootless`, uid and gid 1000, with
# one full range of subordinate ids; its data root (the image's volume), runtime directory
# (the socket) and home are its own; /certs is world-writable so the user makes its keys.
ROOTLESS_UID = 1000
ROOTLESS_USER = "rootless"
ROOTLESS_HOME = "/home/rootless"
ROOTLESS_DATA_ROOT = ROOTLESS_HOME + "/.local/share/docker"
ROOTLESS_RUNTIME_DIR = f"/run/user/{ROOTLESS_UID}"
ROOTLESS_SUBID_START, ROOTLESS_SUBID_COUNT = 100000, 65536
ROOTLESS_SUBIDS = f"{ROOTLESS_USER}:{ROOTLESS_SUBID_START}:{ROOTLESS_SUBID_COUNT}\n"
ROOTLESS_DIRECTORIES = {  # path -> (mode, owner)
    ROOTLESS_HOME: (0o755, ROOTLESS_UID),
    ROOTLESS_HOME + "/.local": (0o755, ROOTLESS_UID),
    ROOTLESS_HOME + "/.local/share": (0o755, ROOTLESS_UID),
    ROOTLESS_DATA_ROOT: (0o700, ROOTLESS_UID),
    "/run/user": (0o1777, 0),
    ROOTLESS_RUNTIME_DIR: (0o700, ROOTLESS_UID),
    "/certs": (0o1777, 0),
    "/certs/client": (0o1777, 0),
}
OS_RELEASE = "/usr/lib/os-release"


def os_release(suite: str) -> str:
    """os-release(5) of the image: ours, with the suite the engine comes from."""
    return (
        f'PRETTY_NAME="docker-from-scratch (Debian {suite} engine)"\n'
        'NAME="docker-from-scratch"\n'
        "ID=docker-from-scratch\n"
        "ID_LIKE=debian\n"
        f"VERSION_CODENAME={suite}\n"
    )


@dataclass
class Assembly:
    """The chosen image tree and where every file comes from."""

    suite: str
    arch: str
    slim: bool
    plugins: tuple[str, ...]
    tree: FileTree
    reasons: dict[str, str]
    versions: dict[str, str]  # package -> version, of every package a file came from
    python: pyruntime.PythonVersion
    analysis: pyruntime.Analysis
    row_files: dict[str, list[str]] = field(default_factory=dict)  # row -> paths it named
    rootless: bool = False


def row_component(row: Requirement) -> str:
    return "engine" if row.kind == "engine" else "tools"


def path_in_packages(
    per_package: dict[str, FileTree], packages: Iterable[str], name: str, directories: Iterable[str] = BIN_DIRS
) -> str | None:
    """``name`` in the first of ``packages`` that has it in one of ``directories`` (a
    program in the bin directories, a library's soname in the loader's)."""
    for package in packages:
        tree = per_package.get(package)
        if tree is None:
            continue
        for directory in directories:
            path = posixpath.join(directory, name)
            if path in tree:
                return path
    return None


def ca_bundle(entries: Iterable[Entry]) -> bytes:
    """What update-ca-certificates writes: every trusted .crt, sorted, concatenated.

    Debian's postinst lists every certificate under /usr/share/ca-certificates in
    /etc/ca-certificates.conf (all enabled), and update-ca-certificates appends each
    one to the bundle, adding a newline where a file lacks one.
    """
    prefix = "/usr/share/ca-certificates/"
    certs = sorted(
        (e for e in entries if e.path.startswith(prefix) and e.path.endswith(".crt")),
        key=lambda e: e.path[len(prefix) :],
    )
    if not certs:
        raise BuildError("ca-certificates has no certificates under " + prefix)
    chunks = []
    for cert in certs:
        data = cert.read_bytes()
        chunks.append(data if data.endswith(b"\n") else data + b"\n")
    return b"".join(chunks)


def generated(path: str, data: bytes, mode: int = 0o644, component: str = "tools") -> Entry:
    return Entry(path, "file", mode, data=data, package="generated", component=component)


@dataclass
class Sources:
    """The unpacked packages of one build: each package's files, all of them merged, the refs."""

    suite: str
    arch: str
    refs: list[DebRef]
    per_package: dict[str, FileTree]
    tree: FileTree


def row_packages(repo: AptRepo, rows: Sequence[Requirement]) -> dict[str, list[str]]:
    """Each row's packages that the suite has, in the row's order; a row with none is an error."""
    available = repo.available({p for row in rows for p in row.packages})
    found = {row.name: [p for p in row.packages if p in available] for row in rows}
    for row in rows:
        if not found[row.name]:
            raise BuildError(
                f"{repo.suite}/{repo.arch} has none of {', '.join(row.packages)} for {row.name}",
                hint="fix the row's packages in requirements/table.py",
            )
    return found


def fetch(repo: AptRepo, wanted: Iterable[str], cache_dir: Path) -> Sources:
    """Download and unpack WANTED with its Depends closure (the first package of a path wins)."""
    refs: list[DebRef] = repo.closure(sorted(set(wanted)))
    deb_files = repo.download(refs)
    repo.progress(f"unpacking {len(deb_files)} packages")
    per_package: dict[str, FileTree] = {}
    tree = FileTree()
    for name in sorted(deb_files):
        entries = debs.unpack(deb_files[name], cache_dir)
        per_package[name] = FileTree(entries)
        for entry in entries:
            tree.add(entry, replace_existing=False)
    return Sources(repo.suite, repo.arch, refs, per_package, tree)


def add_rows(
    image: FileTree, closure: Closure, sources: Sources, rows: Sequence[Requirement], packages: dict[str, list[str]]
) -> dict[str, list[str]]:
    """Each row's programs, files and links with their closure; returns the paths each row named."""
    where = f"{sources.suite}/{sources.arch}"
    per_package = sources.per_package
    row_files: dict[str, list[str]] = {}
    library_dirs = default_library_dirs(sources.arch)
    for row in rows:
        group = row_component(row)
        named: list[str] = []
        # (name, where the packages have it, why it is in the image)
        wanted: list[tuple[str, tuple[str, ...], str]] = [
            (program, BIN_DIRS, f"program {program}") for program in row.programs
        ]
        if row.probe == "library":
            wanted.append((row.target, library_dirs, f"library {row.target} (dlopened)"))
        for name, directories, why in wanted:
            path = path_in_packages(per_package, packages[row.name], name, directories)
            if path is None:
                raise BuildError(
                    f"no {name} in {', '.join(packages[row.name])} ({where})",
                    hint=f"fix row {row.name!r} in requirements/table.py",
                )
            closure.add_with_libraries(path, f"{row.name}: {why}", group)
            named.append(path)
        for path in row.files:
            named.append(path)
            if path == CA_BUNDLE:
                bundle = ca_bundle(e for p in packages[row.name] for e in per_package[p])
                image.add(generated(path, bundle))
                closure.reasons[path] = f"{row.name}: made like update-ca-certificates"
                continue
            if not any(path in per_package[p] for p in packages[row.name]):
                raise BuildError(
                    f"{path} is in none of {', '.join(packages[row.name])} ({sources.suite})",
                    hint=f"fix row {row.name!r} in requirements/table.py",
                )
            closure.add_with_libraries(path, f"{row.name}: file", group)
        for link, target in row.links:
            image.add(Entry(link, "symlink", 0o777, target=target, package="generated", component=group))
            closure.reasons[link] = f"{row.name}: link"
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(link), target))
            closure.add_with_libraries(resolved, f"{row.name}: target of {link}", group)
            named.append(link)
        row_files[row.name] = named
        if row.name == "git-submodule":  # the row that brings sh, which the stand-in needs
            image.add(generated(envsubst.PATH, envsubst.SCRIPT.encode(), 0o755))
            closure.reasons[envsubst.PATH] = "git-submodule: dash stand-in for git's 2.3 MB envsubst"
            named.append(envsubst.PATH)
    return row_files


def add_plugins(closure: Closure, sources: Sources, plugins: tuple[str, ...]) -> dict[str, list[str]]:
    """The --plugins CLI plugins with their closure; returns the path of each."""
    row_files: dict[str, list[str]] = {}
    for name in plugins:
        path = f"{PLUGIN_DIR}/docker-{name}"
        if path not in sources.per_package[PLUGINS[name]]:
            raise BuildError(
                f"{PLUGINS[name]} ({sources.suite}/{sources.arch}) has no {path}",
                hint=f"build without --plugins {name}",
            )
        closure.add_with_libraries(path, f"--plugins {name}: `docker {name}` CLI plugin ({PLUGINS[name]})", "plugins")
        row_files[f"plugin {name}"] = [path]
    return row_files


def add_python(
    image: FileTree,
    closure: Closure,
    sources: Sources,
    python: pyruntime.PythonVersion,
    analysis: pyruntime.Analysis,
) -> None:
    """The interpreter, the analysed stdlib zip, its extension modules and our entry scripts."""
    closure.add_with_libraries(python.interpreter, "python interpreter", "python")
    image.add(
        Entry(
            "/usr/bin/python3",
            "symlink",
            0o777,
            target=posixpath.basename(python.interpreter),
            package="generated",
            component="python",
        )
    )
    image.add(Entry(python.zip_path, "file", 0o644, source=analysis.zip_file, package="generated", component="python"))
    image.add(Entry(python.dynload_dir, "dir", 0o755, package="generated", component="python"))
    for path in pyruntime.extension_files(sources.tree, python, analysis.extensions):
        closure.add_with_libraries(path, "python extension module", "python")
    image.add(generated(LAUNCHER, LAUNCHER_SCRIPT.encode(), 0o755, "launcher"))
    image.add(generated("/usr/bin/docker-from-scratch", DOCTOR_SCRIPT.encode(), 0o755, "launcher"))
    image.add(generated(CLIENT_ENTRYPOINT, CLIENT_SCRIPT.encode(), 0o755, "launcher"))
    closure.reasons.setdefault(CLIENT_ENTRYPOINT, "docker:dind's client entry point (DOCKER_HOST for job containers)")
    for path in (
        "/usr/bin/python3",
        python.zip_path,
        python.dynload_dir,
        LAUNCHER,
        "/usr/bin/docker-from-scratch",
    ):
        closure.reasons.setdefault(path, "python runtime and launcher")


def add_chosen(image: FileTree, closure: Closure, sources: Sources) -> dict[str, str]:
    """Every file the closure chose, from the packages; returns package -> version of each used."""
    versions: dict[str, str] = {}
    ref_by_name = {ref.name: ref for ref in sources.refs}
    for path, group in closure.components.items():
        entry = sources.tree[path]
        image.add(entry.with_component(group), replace_existing=False)
        if entry.package in ref_by_name:
            versions[entry.package] = ref_by_name[entry.package].version
    return versions


def add_etc(image: FileTree, closure: Closure, *, rootless: bool) -> None:
    """The minimal /etc (passwd, group, the rootless user's files), also under /usr/etc."""
    passwd, group = PASSWD, GROUP
    if rootless:
        passwd += f"{ROOTLESS_USER}:x:{ROOTLESS_UID}:{ROOTLESS_UID}:{ROOTLESS_USER}:{ROOTLESS_HOME}:/bin/sh\n"
        group += f"{ROOTLESS_USER}:x:{ROOTLESS_UID}:\n"
        for path in ("/etc/subuid", "/etc/subgid"):
            image.add(generated(path, ROOTLESS_SUBIDS.encode()))
            closure.reasons[path] = "rootless: the user's subordinate ids"
        for directory, (mode, owner) in ROOTLESS_DIRECTORIES.items():
            image.add(Entry(directory, "dir", mode, package="generated", component="layout", owner=owner))
            closure.reasons[directory] = "rootless: the user's own directory"
    image.add(generated("/etc/passwd", passwd.encode()))
    image.add(generated("/etc/group", group.encode()))
    for path in ETC_DEFAULTS:
        if path in image:
            image.add(Entry("/usr" + path, "hardlink", 0o644, target=path, package="generated", component="tools"))
            closure.reasons.setdefault(path, "minimal /etc")
            closure.reasons.setdefault("/usr" + path, f"default copy of {path} for export")


def add_layout(image: FileTree, closure: Closure, suite: str, loader: str) -> None:
    """os-release, the merged-/usr top-level links and the directories the engine expects."""
    # dockerd reads it for `docker info` (Operating System) and warns at start without it
    image.add(generated(OS_RELEASE, os_release(suite).encode(), component="layout"))
    closure.reasons.setdefault(OS_RELEASE, "identifies the image to dockerd (docker info)")
    top_links = {"/bin": "usr/bin", "/sbin": "usr/sbin", "/lib": "usr/lib"}
    if loader.startswith("/lib64/"):
        top_links["/lib64"] = "usr/lib64"
    for link, target in {**top_links, **SYMLINKS}.items():
        image.add(Entry(link, "symlink", 0o777, target=target, package="generated", component="layout"))
        closure.reasons.setdefault(link, "merged /usr layout")
    for directory, mode in DIRECTORIES.items():
        image.add(Entry(directory, "dir", mode, package="generated", component="layout"))
        closure.reasons.setdefault(directory, "directory the engine expects")


def assemble(
    suite: str,
    arch: str,
    *,
    slim: bool,
    cache_dir: Path,
    mirror: str | None = None,
    allow_expired: bool = False,
    plugins: Iterable[str] = (),
    progress: Progress = print_progress,
    rootless: bool = False,
) -> Assembly:
    """Fetch, unpack and choose every file of the image.

    The suite's repository and its Python are made here once; the Python analysis and
    every step below take them rather than making their own.
    """
    plugins = tuple(sorted(set(plugins)))
    repo = AptRepo(suite, arch, cache_dir=cache_dir, mirror=mirror, allow_expired=allow_expired, progress=progress)
    rows = image_rows(slim=slim, rootless=rootless)
    python = pyruntime.suite_python(repo)
    packages = row_packages(repo, rows)
    wanted = {p for names in packages.values() for p in names} | set(python.packages) | {PLUGINS[n] for n in plugins}
    sources = fetch(repo, wanted, cache_dir)
    closure = Closure(sources.tree, arch)
    image = FileTree()
    row_files = add_rows(image, closure, sources, rows, packages)
    row_files |= add_plugins(closure, sources, plugins)
    analysis = pyruntime.analyse(repo, python)
    add_python(image, closure, sources, python, analysis)
    versions = add_chosen(image, closure, sources)
    add_etc(image, closure, rootless=rootless)
    add_layout(image, closure, suite, arch_info(arch).loader)
    return Assembly(
        suite=suite,
        arch=arch,
        slim=slim,
        plugins=plugins,
        tree=image,
        reasons=dict(closure.reasons),
        versions=versions,
        python=python,
        analysis=analysis,
        row_files=row_files,
        rootless=rootless,
    )
