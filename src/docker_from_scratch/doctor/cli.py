"""The image's /usr/bin/docker-from-scratch: the doctor's verbs only (`check`).

The host command (docker_from_scratch.cli) also offers build and export; the image
carries no builder code, so this entry knows only the verbs that run inside it.
"""

import argparse
import sys
from typing import NoReturn

from docker_from_scratch.doctor import cmd_check
from docker_from_scratch.parser import PROG, OneLineParser, die


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROG, description="test what Docker needs, here")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    check = sub.add_parser("check", help="test what Docker needs, here", description=cmd_check.__doc__)
    cmd_check.add_arguments(check)
    return parser


def main(argv: list[str] | None = None) -> NoReturn:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        sys.exit(cmd_check.run(args))
    except KeyboardInterrupt:
        die("interrupted", status=130)
    except BrokenPipeError:
        sys.exit(1)


if __name__ == "__main__":
    main()
