"""``docker-from-scratch export``: the image's files, for ``ADD files.tar /`` elsewhere."""

import argparse
from pathlib import Path

from docker_from_scratch.builder.build import export_files
from docker_from_scratch.builder.options import add_common_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument(
        "-o", "--output", metavar="FILE", type=Path, required=True,
        help="the tarball to write (e.g. files.tar)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    path, digest, size = export_files(
        args.output, args.suite, args.arch, args.slim,
        cache_dir=args.cache_dir, mirror=args.mirror, allow_expired=args.allow_expired_release,
        plugins=args.plugins,
    )  # fmt: skip
    print(f"export: {path} ({size / 1e6:.1f} MB, sha256 {digest})")
    return 0
