"""Command-line options shared by the ``build`` and ``export`` verbs."""

import argparse
from pathlib import Path

from docker_from_scratch.builder.elf import ARCHES

SUITES = ("trixie", "bookworm")


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--suite",
        choices=SUITES,
        default="trixie",
        help="Debian suite the engine, tools and Python come from (default: trixie)",
    )
    parser.add_argument(
        "--arch",
        choices=sorted(ARCHES),
        default="amd64",
        help="architecture of the image (default: amd64)",
    )
    parser.add_argument(
        "--slim",
        action="store_true",
        help="leave out the optional rows (git, ssh): no git build contexts",
    )
    parser.add_argument(
        "--mirror",
        metavar="URI",
        help="Debian mirror to use instead of the one in the host's apt sources",
    )
    parser.add_argument(
        "--cache-dir", metavar="DIR", type=Path,
        help="cache for apt lists, .debs and unpacked files "
        "(default: ~/.cache/docker-from-scratch)",
    )  # fmt: skip
