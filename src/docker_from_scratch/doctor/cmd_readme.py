"""`docker-from-scratch readme-table`: the README's requirement table, from the table.

Prints the block that belongs between the README's markers; ``--update FILE`` writes it
there instead (only between the markers; the rest of the file is left as it is).
"""

import argparse
import sys

from docker_from_scratch.doctor.readme import BEGIN, END, block, replace_block


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--update",
        metavar="FILE",
        default=None,
        help=f"rewrite the table between {BEGIN} and {END} in FILE",
    )


def run(args: argparse.Namespace) -> int:
    if args.update is None:
        sys.stdout.write(block())
        return 0
    try:
        with open(args.update, encoding="utf-8") as file:
            text = file.read()
        updated = replace_block(text)
    except (OSError, ValueError) as error:
        hint = f"add the lines {BEGIN} and {END} where the table belongs"
        sys.stderr.write(f"docker-from-scratch: error: {args.update}: {error} (hint: {hint})\n")
        return 2
    if updated != text:
        with open(args.update, "w", encoding="utf-8") as file:
            file.write(updated)
    return 0
