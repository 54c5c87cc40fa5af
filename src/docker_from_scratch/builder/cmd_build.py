"""``docker-from-scratch build``: write the image tarball and its size report.

With several ``--arch``: one archive per architecture, then one multi-platform OCI
archive (an image index over them, :mod:`multiarch`) that ``push`` sends to a registry.
"""

import argparse
import sys
from pathlib import Path

from docker_from_scratch.builder import compress, report
from docker_from_scratch.builder.build import DEFAULT_TAG, build_image, image_name
from docker_from_scratch.builder.image import docker_load
from docker_from_scratch.builder.options import add_common_arguments
from docker_from_scratch.errors import UsageError


def compression(text: str) -> compress.Compression:
    """argparse type for --compress: a bad name or level is a usage error (exit 2)."""
    try:
        return compress.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, multi_arch=True)
    parser.add_argument(
        "-o",
        "--output",
        metavar="DIR",
        type=Path,
        default=Path("out"),
        help="directory for the tarball and the report (default: ./out)",
    )
    parser.add_argument(
        "--rootless", action="store_true",
        help="the rootless variant (docker:dind-rootless): dockerd as uid 1000 under rootlesskit",
    )  # fmt: skip
    parser.add_argument(
        "--compress", metavar="NAME[:LEVEL]", type=compression, default=compress.NONE,
        help="compress the layer in the archive: none (default), gzip[:1-9] (default 6), or zstd[:1-19] "
        "(default 19, with a 128 MiB window; Docker 23 or later loads it, 20.10 does not)",
    )  # fmt: skip
    parser.add_argument("--load", action="store_true", help="load the image into the local engine (docker load)")
    parser.add_argument(
        "--tag", default=DEFAULT_TAG, help=f"image name and tag (default: {DEFAULT_TAG})"
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    arches = list(dict.fromkeys(args.arch or ["amd64"]))
    if len(arches) > 1 and args.load:
        # Two options that cannot go together: a usage error (2), like an unknown --arch.
        raise UsageError(
            "--load takes one --arch: docker load keeps one platform per tag",
            hint="push the multi-platform archive (docker-from-scratch push) or build one --arch",
        )
    archives = [build_one(args, arch) for arch in arches]
    if len(arches) > 1:
        from docker_from_scratch.builder import multiarch

        name = image_name(args.suite, "-".join(arches), args.slim, args.rootless, args.plugins)
        result = multiarch.write_index_archive(archives, args.tag, args.output / f"{name}.oci.tar")
        print(f"multi-platform image: {result.path} ({', '.join(result.platforms)})")
        print(f"index: {result.index_digest}")
    sys.stdout.flush()
    return 0


def build_one(args: argparse.Namespace, arch: str) -> Path:
    """One architecture's archive and report, as a single-arch build writes them."""
    result = build_image(
        args.suite, arch, args.slim, args.output,
        tag=args.tag, cache_dir=args.cache_dir, mirror=args.mirror, rootless=args.rootless,
        allow_expired=args.allow_expired_release, plugins=args.plugins, compression=args.compress,
    )  # fmt: skip
    print(report.format_table(result.sizes))
    stored = "" if args.compress == compress.NONE else f", {result.blob_size / 1e6:.1f} MB {args.compress}"
    print(f"image: {result.archive} ({result.layer_size / 1e6:.1f} MB layer{stored})")
    print(f"id: {result.image_id}")
    print(f"report: {result.report}")
    print(f"built in {result.seconds:.1f} s")
    if args.load:
        print(docker_load(result.archive, args.compress))
    return result.archive
