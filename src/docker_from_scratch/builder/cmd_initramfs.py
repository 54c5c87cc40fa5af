"""``docker-from-scratch initramfs``: the image as an initramfs for a bare kernel, plus that kernel.

Writes ``OUT/vmlinuz`` (Debian's kernel for the suite) and ``OUT/initramfs.cpio`` (the
image's files, the module closure Docker needs, /dev/console, /init -> the launcher, and
any ``--add-image`` archives that PID 1 loads into dockerd at boot). ``vm OUT`` boots them.
"""

import argparse
import os
import shutil
import time
from pathlib import Path

from docker_from_scratch.builder import apt, initramfs, kernel
from docker_from_scratch.builder.errors import BuildError

CPIO_NAME = "initramfs.cpio"
KERNEL_NAME = "vmlinuz"
ARCH_NAME = "arch"  # the Debian architecture, for `vm`


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rootfs", type=Path, help="the image's files: a directory or a tarball (default: build them, as `build` does)"
    )
    parser.add_argument("--slim", action="store_true", help="the slim image's files (with the default --rootfs)")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("out/bare-kernel"),
        help="directory for vmlinuz and initramfs.cpio (default: out/bare-kernel)",
    )
    parser.add_argument("--suite", default="trixie", help="Debian suite of the kernel (default: trixie)")
    parser.add_argument("--arch", choices=sorted(kernel.METAPACKAGE), default="amd64",
                        help="Debian architecture of the kernel and the image's files (default: amd64)")
    parser.add_argument(
        "--module",
        action="append",
        default=[],
        metavar="NAME",
        dest="extra_modules",
        help="another kernel module to ship (with its dependencies); repeatable",
    )
    parser.add_argument("--add-image", action="append", default=[], type=Path, metavar="TAR",
                        help="a `docker save` archive that PID 1 loads at boot; repeatable")  # fmt: skip


def image_members(suite: str, arch: str, slim: bool, cache_dir: Path) -> list[initramfs.Member]:
    """The image's own file tree, assembled exactly as ``build`` assembles it."""
    from docker_from_scratch.builder import content

    assembly = content.assemble(suite, arch, slim=slim, cache_dir=cache_dir)
    return list(initramfs.from_entries(assembly.tree))


def rootfs_members(path: Path) -> list[initramfs.Member]:
    if path.is_dir():
        return list(initramfs.from_directory(path))
    if path.is_file():
        return list(initramfs.from_tar(path))
    raise BuildError(f"{path} is neither a directory nor a tarball", hint="give the image's files with --rootfs")


def build_initramfs(
    rootfs: Path | None,
    output: Path,
    *,
    suite: str = "trixie",
    arch: str = "amd64",
    slim: bool = False,
    extra_modules: tuple[str, ...] = (),
    images: tuple[Path, ...] = (),
) -> tuple[Path, Path]:
    """Write OUT/vmlinuz and OUT/initramfs.cpio; return their paths.

    ``rootfs`` None: the image's files are assembled here, as ``build`` assembles them.
    """
    for image in images:
        if not image.is_file():
            raise BuildError(f"{image}: no such image archive", hint="give a `docker save` tarball")
    cache_dir = apt.default_cache_dir()
    found = kernel.fetch_kernel(suite, arch, cache_dir=cache_dir)
    names = (*kernel.docker_modules(), *kernel.BARE_KERNEL_MODULES, *extra_modules)
    stage = kernel.stage_modules(found, names, cache_dir)
    output.mkdir(parents=True, exist_ok=True)
    cpio = output / CPIO_NAME
    files = image_members(suite, arch, slim, cache_dir) if rootfs is None else rootfs_members(rootfs)
    members = initramfs.bare_kernel_members(files, kernel.module_entries(stage), images)
    partial = cpio.with_suffix(".partial")
    with open(partial, "wb") as out:
        initramfs.write_initramfs(members, out)
    os.replace(partial, cpio)
    vmlinuz = output / KERNEL_NAME
    shutil.copyfile(found.vmlinuz, vmlinuz)
    (output / "kernel-version").write_text(found.version + "\n")
    (output / ARCH_NAME).write_text(arch + "\n")
    return vmlinuz, cpio


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    vmlinuz, cpio = build_initramfs(
        args.rootfs, args.output, suite=args.suite, arch=args.arch, slim=args.slim,
        extra_modules=tuple(args.extra_modules), images=tuple(args.add_image),
    )  # fmt: skip
    print(f"{vmlinuz} ({vmlinuz.stat().st_size / 1e6:.1f} MB)")
    print(f"{cpio} ({cpio.stat().st_size / 1e6:.1f} MB, written in {time.monotonic() - started:.1f} s)")
    print(f"boot it: docker-from-scratch vm {args.output}" + (" --poweroff --run CMD" if args.arch != "amd64" else ""))
    return 0
