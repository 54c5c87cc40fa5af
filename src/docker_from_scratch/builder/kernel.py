"""Debian's kernel for the bare-kernel image: vmlinuz and the modules Docker needs.

The kernel package (``linux-image-<version>-amd64``, what the suite's ``linux-image-amd64``
depends on) is fetched through :mod:`apt` and unpacked through :mod:`debs`, never
installed. The package ships no ``modules.dep`` (Debian's postinst runs depmod), so the
build host's ``depmod -b`` indexes the unpacked tree once; the module closure comes from
that ``modules.dep``.

Modules are decompressed here (Debian 13 ships ``.ko.xz``). Checked: the image's kmod
would cope with xz (trixie's libkmod 34 links liblzma and libzstd, DT_NEEDED, and the
6.12 kernel has CONFIG_MODULE_DECOMPRESS), so this is not about correctness: xz is CPU
work that a TCG guest does many times slower than the build host, the plain modules
(~7 MB for Docker's set) cost little in an uncompressed initramfs, and any loader
(busybox modprobe, a bare finit_module) reads them. The staged subset is indexed again
by ``depmod -b`` so the guest's modprobe sees exactly the shipped files.
"""

import hashlib
import lzma
import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from docker_from_scratch.builder import apt, debs
from docker_from_scratch.builder.errors import BuildError
from docker_from_scratch.builder.proc import run_tool, spawn
from docker_from_scratch.builder.tree import Entry
from docker_from_scratch.requirements.modules import DISK_MODULES, MODULES, parse_module_list, parse_modules_dep

# Beyond the launcher's own list (requirements/modules.py MODULES, shipped whole): what dockerd
# or iptables ask the kernel for on demand. crc32c_generic: seen in the feasibility run on
# Debian's kernel under QEMU (shared facts); xt_tcpudp: published ports (-p tcp --dport);
# ip6table_*: the IPv6 tables of iptables-legacy.
ON_DEMAND_MODULES = ("crc32c_generic", "xt_tcpudp", "ip6table_nat", "ip6table_filter")
# A virtio disk for /var/lib/docker (ext4, made by the `vm` verb): PID 1 loads them.
BARE_KERNEL_MODULES = DISK_MODULES



def docker_modules() -> tuple[str, ...]:
    """Every module the launcher loads (its one list) plus those loaded on demand."""
    return (*(name for name, _feature in MODULES), *ON_DEMAND_MODULES)


METAPACKAGE = {"amd64": "linux-image-amd64", "arm64": "linux-image-arm64"}
# Files depmod needs besides the modules themselves, to index the staged subset.
DEPMOD_INPUTS = ("modules.builtin", "modules.builtin.modinfo", "modules.order")


@dataclass(frozen=True)
class Kernel:
    """An unpacked Debian kernel package, with its full module tree indexed."""

    version: str  # uname -r, e.g. 6.12.117+deb13-amd64
    vmlinuz: Path
    modules_dir: Path  # .../lib/modules/<version>, holding modules.dep


def module_closure(
    table: dict[str, tuple[str, list[str]]], names: Iterable[str], builtin: Iterable[str] = ()
) -> list[str]:
    """Paths of ``names`` and everything they depend on; unknown names raise BuildError."""
    builtin = set(builtin)
    paths: set[str] = set()
    missing: list[str] = []
    for name in names:
        key = name.replace("-", "_")
        if key in table:
            path, deps = table[key]
            paths.add(path)
            paths.update(deps)  # modules.dep lists the whole transitive closure
        elif key not in builtin:
            missing.append(name)
    if missing:
        raise BuildError(
            f"the kernel has no module {', '.join(missing)}",
            hint="check the module names against the kernel's modules.dep",
        )
    return sorted(paths)


def kernel_package(repo: apt.AptRepo) -> str:
    """The versioned package the suite's metapackage points at (linux-image-6.12.x-amd64)."""
    meta = METAPACKAGE.get(repo.arch)
    if meta is None:
        raise BuildError(f"no Debian kernel metapackage known for {repo.arch}", hint="use --arch amd64")
    depends = repo.show([meta]).get(meta, {}).get("Depends", "")
    match = re.search(r"(linux-image-[^\s,|(]+)", depends)
    if not match:
        raise BuildError(f"{repo.suite}/{repo.arch}: {meta} depends on no kernel image ({depends!r})")
    return match[1]


def run_depmod(base: Path, version: str) -> None:
    """``depmod -b base version``: depmod reads and writes base/lib/modules/<version>."""
    if shutil.which("depmod") is None:
        raise BuildError("depmod is missing on the build host", hint="apt-get install kmod")
    run_tool(["depmod", "-b", os.fspath(base), version], hint="check the kernel package's module tree")


def fetch_kernel(
    suite: str,
    arch: str = "amd64",
    *,
    cache_dir: Path | None = None,
    progress: apt.Progress = apt.print_progress,
) -> Kernel:
    """Fetch and unpack the suite's kernel package once; index its modules once."""
    cache_dir = cache_dir or apt.default_cache_dir()
    repo = apt.AptRepo(suite, arch, cache_dir=cache_dir, progress=progress)
    package = kernel_package(repo)
    deb = repo.download(repo.resolve([package]))[package]
    entries = debs.unpack(deb, cache_dir)
    root = debs.unpack_dir(deb, cache_dir) / "files"
    vmlinuz = [e.source for e in entries if e.kind == "file" and e.path.startswith("/boot/vmlinuz-")]
    if len(vmlinuz) != 1 or vmlinuz[0] is None:
        raise BuildError(f"{deb.name} holds no single /boot/vmlinuz-*", hint=f"delete {deb} and retry")
    version = vmlinuz[0].name.removeprefix("vmlinuz-")
    # depmod -b looks under base/lib/modules; the package's files sit under usr/lib.
    lib_link = root / "lib"
    if not lib_link.exists():
        lib_link.symlink_to("usr/lib")
    modules_dir = root / "usr/lib/modules" / version
    if not (modules_dir / "modules.dep").is_file():
        progress(f"kernel: indexing the modules of {version}")
        run_depmod(root, version)
    return Kernel(version, vmlinuz[0], modules_dir)


def plain_module_path(path: str) -> str:
    """``kernel/fs/overlayfs/overlay.ko.xz`` -> ``kernel/fs/overlayfs/overlay.ko``."""
    return path[: path.rindex(".ko") + len(".ko")]


def decompress_module(source: Path, dest: Path) -> None:
    """Write ``source`` (.ko, .ko.xz, .ko.zst, .ko.gz) to ``dest`` as a plain .ko."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    name = source.name
    if name.endswith(".ko.xz"):
        with lzma.open(source) as packed, open(dest, "wb") as out:
            shutil.copyfileobj(packed, out, 1 << 20)
    elif name.endswith(".ko.gz"):
        import gzip

        with gzip.open(source) as packed, open(dest, "wb") as out:
            shutil.copyfileobj(packed, out, 1 << 20)
    elif name.endswith(".ko.zst"):
        # Python's zstd module arrives in 3.14; the zstd tool is in scripts/setup.
        with open(dest, "wb") as out, spawn(["zstd", "-dcq", source], stdout=out, hint="install zstd (scripts/setup)"):
            pass
    else:
        shutil.copyfile(source, dest)


def stage_modules(kernel: Kernel, names: Iterable[str], cache_dir: Path) -> Path:
    """A directory ``<stage>/lib/modules/<version>`` with the closure, decompressed, indexed.

    Keyed by the kernel and the names, so a rebuild with the same inputs reuses it.
    """
    wanted = sorted(set(names))
    key = hashlib.sha256("\n".join([kernel.version, *wanted]).encode()).hexdigest()[:16]
    stage = cache_dir / "kernel-modules" / f"{kernel.version}-{key}"
    done = stage / ".complete"
    if done.is_file():
        return stage
    if stage.exists():
        shutil.rmtree(stage)
    table = parse_modules_dep((kernel.modules_dir / "modules.dep").read_text())
    builtin = parse_module_list((kernel.modules_dir / "modules.builtin").read_text())
    target = stage / "lib/modules" / kernel.version
    for path in module_closure(table, wanted, builtin):
        decompress_module(kernel.modules_dir / path, target / plain_module_path(path))
    for name in DEPMOD_INPUTS:
        if (kernel.modules_dir / name).is_file():
            shutil.copyfile(kernel.modules_dir / name, target / name)
    run_depmod(stage, kernel.version)
    done.write_text("\n".join(wanted) + "\n")
    return stage


def module_entries(stage: Path) -> list[Entry]:
    """The staged modules as image entries under /usr/lib/modules (the image's /lib -> usr/lib)."""
    entries: list[Entry] = []
    base = stage / "lib"
    for directory, _dirs, files in os.walk(base):
        for name in sorted(files):
            source = Path(directory) / name
            path = "/usr/lib/" + os.fspath(source.relative_to(base))
            entries.append(Entry(path, "file", 0o644, source=source, package="kernel"))
    return sorted(entries, key=lambda e: e.path)
