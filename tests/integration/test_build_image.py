"""The real build: packages from apt, the image tarball, and what is (and is not) in it.

One trixie build is shared by the module (warm builds reuse the package cache under
~/.cache/docker-from-scratch and take a few seconds); the checks read the written
tarball, not the builder's own bookkeeping.
"""

import hashlib
import json
import os
import posixpath
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from docker_from_scratch.builder import content
from docker_from_scratch.builder.apt import default_cache_dir
from docker_from_scratch.builder.build import BuildResult, build_image, export_files
from docker_from_scratch.builder.elf import DLOPENED, Closure, arch_info
from docker_from_scratch.builder.tree import Entry, FileTree
from docker_from_scratch.requirements.table import LIBCRYPTO, image_rows
from tests.testing.engine import docker

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def built() -> BuildResult:
    """The full trixie amd64 image, built into out/ (cached packages make it quick)."""
    return build_image("trixie", "amd64", False, ROOT / "out", progress=lambda message: None)


@pytest.fixture(scope="module")
def layer_tree(built: BuildResult, tmp_path_factory: pytest.TempPathFactory) -> FileTree:
    """The image's layer, read back from the tarball into a tree (files unpacked to disk)."""
    root = tmp_path_factory.mktemp("layer")
    entries = []
    with tarfile.open(built.archive) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))  # type: ignore[arg-type]
        layer = archive.extractfile(manifest[0]["Layers"][0])
        assert layer is not None
        with tarfile.open(fileobj=layer, mode="r|") as tar:
            for member in tar:
                path = "/" + member.name
                if member.isdir():
                    entries.append(Entry(path, "dir", member.mode))
                elif member.issym():
                    entries.append(Entry(path, "symlink", 0o777, target=member.linkname))
                elif member.islnk():
                    entries.append(Entry(path, "hardlink", member.mode, target="/" + member.linkname))
                else:
                    dest = root / member.name
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    data = tar.extractfile(member)
                    assert data is not None
                    dest.write_bytes(data.read())
                    entries.append(Entry(path, "file", member.mode, source=dest))
    return FileTree(entries)


def elf_files(tree: FileTree) -> Iterator[str]:
    for entry in tree:
        if entry.kind == "file" and entry.source is not None:
            with open(entry.source, "rb") as handle:
                if handle.read(4) == b"\x7fELF":
                    yield entry.path


def test_build_every_row_of_the_table_is_in_the_image(layer_tree: FileTree) -> None:
    """Each image row's programs, files and links should be in the image, as regular files."""
    missing = []
    for row in image_rows(slim=False):
        for program in row.programs:
            if not any(layer_tree.regular(f"{d}/{program}") for d in content.BIN_DIRS):
                missing.append(f"{row.name}: program {program}")
        for path in row.files:
            if layer_tree.regular(path) is None:
                missing.append(f"{row.name}: file {path}")
        for link, _target in row.links:
            if layer_tree.regular(link) is None:
                missing.append(f"{row.name}: link {link}")
        if row.probe == "library" and layer_tree.regular(library_path(row.target)) is None:
            missing.append(f"{row.name}: library {row.target}")
    assert not missing, missing


def library_path(soname: str) -> str:
    return f"/usr/lib/{arch_info('amd64').triplet}/{soname}"


def test_build_no_elf_file_outside_the_tables_closure(layer_tree: FileTree, built: BuildResult) -> None:
    """Every ELF file should be reachable from the table's files, Python, DT_NEEDED or DLOPENED."""
    closure = Closure(layer_tree, "amd64")
    for row in image_rows(slim=False):
        for program in row.programs:
            path = next(f"{d}/{program}" for d in content.BIN_DIRS if layer_tree.regular(f"{d}/{program}"))
            closure.add_with_libraries(path, row.name, "row")
        for path in row.files:
            closure.add_with_libraries(path, row.name, "row")
        for link, _target in row.links:
            closure.add_with_libraries(link, row.name, "row")
        if row.probe == "library":
            closure.add_with_libraries(library_path(row.target), row.name, "row")
    python = built.assembly.python
    closure.add_with_libraries(python.interpreter, "python", "python")
    for entry in layer_tree:
        if entry.path.startswith(python.dynload_dir + "/"):
            closure.add_with_libraries(entry.path, "extension module", "python")
    reached = {layer_tree.resolve(path) for path in closure.reasons}
    stray = sorted(set(elf_files(layer_tree)) - reached)
    assert not stray, f"ELF files no row, loader, DT_NEEDED or DLOPENED entry asks for: {stray}"
    extensions = [e for e in layer_tree if e.path.startswith(python.dynload_dir + "/")]
    assert len(extensions) == len(built.assembly.analysis.extensions), "lib-dynload holds only analysed modules"


def test_build_dlopened_extras_are_in_the_image(layer_tree: FileTree) -> None:
    """The dlopen lists (xtables extensions, kmod's decompressors) should be present."""
    libdir = f"/usr/lib/{arch_info('amd64').triplet}"
    for extras in DLOPENED.values():
        for extra in extras:
            assert layer_tree.regular(posixpath.join(libdir, extra)), extra


def test_build_layout_etc_and_python_runtime(layer_tree: FileTree, built: BuildResult) -> None:
    """Merged-/usr links, /etc defaults mirrored in /usr/etc, the zip and lib-dynload should be there."""
    assert layer_tree["/bin"].target == "usr/bin" and layer_tree["/lib64"].target == "usr/lib64"
    passwd = layer_tree.regular("/etc/passwd")
    assert passwd is not None and passwd.read_bytes().startswith(b"root:x:0:0:")
    assert layer_tree["/usr/etc/passwd"].kind == "hardlink"
    bundle = layer_tree.regular("/etc/ssl/certs/ca-certificates.crt")
    assert bundle is not None and bundle.read_bytes().count(b"BEGIN CERTIFICATE") > 100
    python = built.assembly.python
    assert layer_tree.regular(python.zip_path) is not None
    assert layer_tree[python.dynload_dir].kind == "dir"
    assert layer_tree.regular("/usr/bin/python3") is not None
    script = layer_tree.regular("/usr/bin/dockerlaunch")
    assert script is not None and script.read_bytes().startswith(b"#!/usr/bin/python3 -IS\n")


def test_build_group_file_has_the_tty_group_devpts_names(layer_tree: FileTree) -> None:
    """The image's /etc/group should hold tty (gid 5), the group the devpts gid=5 option gives terminals."""
    group = layer_tree.regular("/etc/group")
    assert group is not None
    entries = {line.split(":")[0]: line.split(":")[2] for line in group.read_bytes().decode().splitlines()}
    assert entries.get("tty") == "5" and entries.get("root") == "0", entries


def test_build_report_names_every_component(built: BuildResult) -> None:
    """The JSON report beside the tarball should give bytes and gzip per component."""
    doc = json.loads(built.report.read_text())
    assert doc["image_id"] == built.image_id and doc["suite"] == "trixie"
    for component in ("engine", "tools", "libraries", "python", "launcher"):
        assert doc["components"][component]["bytes"] > 0
        assert 0 < doc["components"][component]["gzip"] < doc["components"][component]["bytes"]


def test_build_twice_gives_a_byte_identical_tarball(tmp_path: Path) -> None:
    """Two builds of the same inputs should give the same bytes and image ID.

    In a shared work tree other sessions edit the launcher's sources now and then, which
    changes an input (the zip); such a pair is built again, at most three times.
    """
    for attempt in range(3):
        first = build_image("trixie", "amd64", False, tmp_path / f"a{attempt}", progress=lambda m: None)
        second = build_image("trixie", "amd64", False, tmp_path / f"b{attempt}", progress=lambda m: None)
        if first.assembly.analysis.zip_file == second.assembly.analysis.zip_file:
            break
    assert first.assembly.analysis.zip_file == second.assembly.analysis.zip_file, "sources kept changing"
    assert second.image_id == first.image_id
    assert sha256_of(second.archive) == sha256_of(first.archive)


def sha256_of(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def test_build_slim_drops_the_optional_rows(built: BuildResult) -> None:
    """--slim should leave out git, ssh and the shell, and keep the engine and the other tools."""
    slim = content.assemble("trixie", "amd64", slim=True, cache_dir=default_cache_dir(), progress=lambda m: None)
    for gone in ("/usr/bin/git", "/usr/bin/ssh", "/usr/bin/sh", "/usr/lib/git-core/git-submodule"):
        assert gone not in slim.tree and gone in built.assembly.tree, gone
    for kept in ("/usr/sbin/dockerd", "/usr/bin/containerd", "/usr/sbin/xtables-nft-multi", "/usr/bin/xz"):
        assert kept in slim.tree, kept
    assert not any("libcurl" in path for path in slim.tree.paths())


def test_build_certificates_need_libcrypto_alone(built: BuildResult) -> None:
    """Both variants should carry libcrypto for the TLS step, and no openssl CLI; slim no libssl."""
    slim = content.assemble("trixie", "amd64", slim=True, cache_dir=default_cache_dir(), progress=lambda m: None)
    for tree in (built.assembly.tree, slim.tree):
        assert tree.regular(library_path(LIBCRYPTO)) is not None
        assert "/usr/bin/openssl" not in tree
    assert library_path("libssl.so.3") not in slim.tree


def test_build_arm64_tree_is_all_aarch64() -> None:
    """An arm64 build should hold only AArch64 ELF files and the aarch64 loader, no /lib64."""
    arm = content.assemble("trixie", "arm64", slim=True, cache_dir=default_cache_dir(), progress=lambda m: None)
    closure = Closure(arm.tree, "arm64")
    infos = [closure.info(e.path) for e in arm.tree if e.kind == "file"]
    machines = {info.machine for info in infos if info is not None}
    assert machines == {"EM_AARCH64"}
    assert arm.tree.regular("/usr/lib/ld-linux-aarch64.so.1") is not None
    assert "/lib64" not in arm.tree


def test_build_armhf_tree_is_all_32_bit_arm_with_the_engine() -> None:
    """An armhf build (docker:dind's arm32v7) should hold the engine, only ARM ELF files and the armhf loader."""
    arm = content.assemble("trixie", "armhf", slim=True, cache_dir=default_cache_dir(), progress=lambda m: None)
    closure = Closure(arm.tree, "armhf")
    infos = [closure.info(e.path) for e in arm.tree if e.kind == "file"]
    assert {info.machine for info in infos if info is not None} == {"EM_ARM"}
    assert arm.tree.regular("/usr/lib/ld-linux-armhf.so.3") is not None
    for program in ("/usr/sbin/dockerd", "/usr/bin/containerd", "/usr/sbin/runc", "/usr/bin/docker"):
        assert program in arm.tree, program


def test_build_export_has_no_etc_and_no_top_level_links(tmp_path: Path) -> None:
    """files.tar should carry /usr/etc defaults as files but no /etc, /bin, /lib, /lib64."""
    path, _digest, _size = export_files(tmp_path / "files.tar", progress=lambda message: None)
    with tarfile.open(path) as tar:
        names = set(tar.getnames())
        passwd = tar.getmember("usr/etc/passwd")
        assert passwd.isfile()
    assert not {"bin", "sbin", "lib", "lib64", "etc"} & names
    assert not any(name.startswith("etc/") for name in names)
    assert {"usr/bin/dockerlaunch", "usr/sbin/dockerd", "usr/etc/ssl/certs/ca-certificates.crt"} <= names


def test_build_docker_load_accepts_the_image_and_it_runs(built: BuildResult, tmp_path: Path, engine: None) -> None:
    """docker load should take the tarball; dockerd, git and the launcher's Python should run in it."""
    tag = f"dfs-test-build-{uuid.uuid4().hex[:8]}:latest"
    again = build_image("trixie", "amd64", False, tmp_path, tag=tag, progress=lambda message: None)
    docker("load", "-i", os.fspath(again.archive))
    try:
        assert docker("image", "inspect", "--format", "{{.Id}}", tag).stdout.strip() == again.image_id
        version = docker("run", "--rm", "--entrypoint", "/usr/bin/dockerd", tag, "--version").stdout
        assert version.startswith("Docker version 26.")
        python = docker(
            "run", "--rm", "--entrypoint", "/usr/bin/python3", tag, "-IS", "-c",
            "import ctypes, docker_from_scratch.launcher.cli; import docker_from_scratch.launcher.netlink; print('ok')",
        )  # fmt: skip
        assert python.stdout.strip() == "ok" and python.stderr == ""
        assert docker("run", "--rm", "--entrypoint", "/usr/bin/git", tag, "--version").stdout.startswith("git ")
    finally:
        docker("rmi", "-f", tag, check=False)


def test_build_python_runtime_leaves_out_frozen_copies_and_optional_modules(layer_tree: FileTree) -> None:
    """The image's stdlib zip should hold no frozen module's copy and no ssl/bz2/lzma, nor their extensions."""
    import zipfile

    zips = [e for e in layer_tree if e.kind == "file" and posixpath.basename(e.path).startswith("python3")
            and e.path.endswith(".zip")]  # fmt: skip
    assert len(zips) == 1 and zips[0].source is not None
    members = set(zipfile.ZipFile(zips[0].source).namelist())
    assert "docker_from_scratch/launcher/netlink.pyc" in members
    assert not {"os.pyc", "codecs.pyc", "posixpath.pyc", "ssl.pyc", "bz2.pyc", "lzma.pyc"} & members
    assert not any(name.startswith(("pyroute2/", "email/", "http/")) for name in members)
    extensions = {posixpath.basename(e.path).split(".")[0] for e in layer_tree if "/lib-dynload/" in e.path}
    assert not {"_ssl", "_bz2", "_lzma"} & extensions


def test_build_python_zip_strips_docstrings_but_the_doctors(layer_tree: FileTree) -> None:
    """The zip should be compiled without docstrings (-OO), the doctor's modules with them."""
    import zipfile

    zips = [e for e in layer_tree if e.kind == "file" and posixpath.basename(e.path).startswith("python3")
            and e.path.endswith(".zip")]  # fmt: skip
    assert len(zips) == 1 and zips[0].source is not None
    archive = zipfile.ZipFile(zips[0].source)
    names = set(archive.namelist())
    assert b"Support for gradual typing" not in archive.read("typing.pyc")  # typing's module docstring
    assert b"dockerlaunch's main" not in archive.read("docker_from_scratch/launcher/cli.pyc")
    assert b"test what Docker needs, here (host, our image" in archive.read("docker_from_scratch/doctor/cmd_check.pyc")
    assert not {"_py_abc.pyc", "_threading_local.pyc", "traceback.pyc"} & names
    assert {"textwrap.pyc", "linecache.pyc"} <= names  # imported inside argparse and warnings


def test_build_python_zip_deflates_only_what_check_alone_imports(layer_tree: FileTree) -> None:
    """Members only the in-image `check` imports should be deflated; what the launcher imports stays stored."""
    import zipfile

    zips = [e for e in layer_tree if e.kind == "file" and posixpath.basename(e.path).startswith("python3")
            and e.path.endswith(".zip")]  # fmt: skip
    assert len(zips) == 1 and zips[0].source is not None
    kinds = {i.filename: i.compress_type for i in zipfile.ZipFile(zips[0].source).infolist()}
    deflated = {name for name, kind in kinds.items() if kind == zipfile.ZIP_DEFLATED}
    assert {"argparse.pyc", "docker_from_scratch/doctor/cmd_check.pyc"} <= deflated
    launcher = ("docker_from_scratch/launcher/", "docker_from_scratch/requirements/")
    assert not {name for name in deflated if name.startswith(launcher)}
    assert kinds["encodings/__init__.pyc"] == kinds["docker_from_scratch/launcher/cli.pyc"] == zipfile.ZIP_STORED
