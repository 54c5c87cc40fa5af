"""The image's /usr/bin/docker-from-scratch: the doctor's verbs only (`check`).

The host command (docker_from_scratch.cli) also offers build and export; the image
carries no builder code, so this entry knows only the verbs that run inside it.
"""

import argparse
import sys
from typing import NoReturn

from docker_from_scratch.doctor import cmd_check

PROG = "docker-from-scratch"


class OneLineParser(argparse.ArgumentParser):
    """argparse's errors as one line naming the fix (its default prints the usage too)."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{PROG}: error: {message} (hint: see {self.prog} --help)\n")
        sys.exit(2)


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
        sys.stderr.write(f"{PROG}: error: interrupted\n")
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(1)


if __name__ == "__main__":
    main()
