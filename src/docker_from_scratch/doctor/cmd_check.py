"""`docker-from-scratch check`: test what Docker needs, here (host, our image, any container).

Exits 0 when Docker can run here, 1 when a hard requirement is missing (the last line
names it). Standard library only: the image runs it through ``doctor.cli``.
"""

import argparse
import sys

from docker_from_scratch.doctor.report import as_data, as_text, run_check


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--data-root",
        metavar="PATH",
        default=None,
        help="dockerd's data root to test (default: /var/lib/docker)",
    )
    parser.add_argument(
        "--root",
        metavar="DIR",
        default="/",
        help="read /proc, /sys and files under DIR instead of / (fixture or image trees)",
    )


def run(args: argparse.Namespace) -> int:
    report = run_check(root=args.root, data_root=args.data_root)
    if args.json:
        import json  # only here: json costs milliseconds at start-up

        sys.stdout.write(json.dumps(as_data(report), indent=2) + "\n")
    else:
        sys.stdout.write(as_text(report))
    sys.stdout.flush()
    return 0 if report.docker_can_run else 1
