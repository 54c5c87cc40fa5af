"""Command-line options shared by the ``build`` and ``export`` verbs."""

import argparse
from pathlib import Path

from docker_from_scratch.builder.content import PLUGINS
from docker_from_scratch.builder.elf import ARCHES

# forky (testing) and sid (unstable) carry today's engine; see the README's suite table.
SUITES = ("trixie", "forky", "sid", "bookworm")
DEFAULT_SUITE = "trixie"


def plugin_list(text: str) -> tuple[str, ...]:
    """``buildx,compose`` -> ("buildx", "compose"); an unknown name is a usage error."""
    names = tuple(sorted({name.strip() for name in text.split(",") if name.strip()}))
    unknown = [name for name in names if name not in PLUGINS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown plugin {', '.join(unknown) or repr(text)}: choose from {','.join(PLUGINS)}"
        )
    return names


def arch_list(value: str) -> list[str]:
    """``amd64,arm64`` -> [amd64, arm64], each a known architecture."""
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in ARCHES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"{value!r}: use {', '.join(sorted(ARCHES))}, comma-separated")
    return names


def add_common_arguments(parser: argparse.ArgumentParser, *, multi_arch: bool = False) -> None:
    parser.add_argument(
        "--suite",
        choices=SUITES,
        default=DEFAULT_SUITE,
        help=f"Debian suite the engine, tools and Python come from (default: {DEFAULT_SUITE})",
    )
    if multi_arch:
        parser.add_argument(
            "--arch", type=arch_list, action="extend", metavar="ARCH[,ARCH]",
            help=f"architectures ({', '.join(sorted(ARCHES))}; repeatable or comma-separated): "
            "more than one also writes one OCI image index over them (default: amd64)",
        )  # fmt: skip
    else:
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
        "--plugins",
        metavar="LIST",
        type=plugin_list,
        default=(),
        help=f"add docker CLI plugins from the suite's packages, comma-separated: {','.join(PLUGINS)} "
        "(as docker:dind ships them; default: none)",
    )
    parser.add_argument(
        "--mirror",
        metavar="URI",
        help="Debian mirror to use instead of the one in the host's apt sources",
    )
    parser.add_argument(
        "--allow-expired-release",
        action="store_true",
        help="accept the mirror's Release files past their Valid-Until date (apt's "
        "Acquire::Check-Valid-Until=false; signatures are still checked)",
    )
    parser.add_argument(
        "--cache-dir", metavar="DIR", type=Path,
        help="cache for apt lists, .debs and unpacked files "
        "(default: ~/.cache/docker-from-scratch)",
    )  # fmt: skip
