"""docker-from-scratch: the build-host command (build, export, check, ...).

Each verb lives in its own module with ``add_arguments(parser)`` and ``run(args) -> int``;
a verb's module is imported only when that verb runs, so ``check`` stays fast and the
builder's dependencies are never needed by the doctor.
"""

import argparse
import importlib
import sys
from typing import NoReturn

from docker_from_scratch.errors import Error, describe_errno
from docker_from_scratch.parser import PROG, OneLineParser, die

# verb -> (module, one-line help)
VERBS: dict[str, tuple[str, str]] = {
    "build": ("docker_from_scratch.builder.cmd_build", "build the image tarball (and --load it)"),
    "export": ("docker_from_scratch.builder.cmd_export", "write the image's files as a tarball"),
    "push": ("docker_from_scratch.builder.cmd_push", "push a built archive (multi-platform too) with skopeo"),
    "check": ("docker_from_scratch.doctor.cmd_check", "test what Docker needs, here"),
    "initramfs": ("docker_from_scratch.builder.cmd_initramfs", "write the image as an initramfs, with Debian's kernel"),
    "vm": ("docker_from_scratch.builder.cmd_vm", "boot that initramfs under QEMU, the launcher as PID 1"),
    "flags": ("docker_from_scratch.host", "print the docker run flags that start the image (--minimal: fewest)"),
    "readme-table": (
        "docker_from_scratch.doctor.cmd_readme",
        "print the README's requirement table from the table",
    ),
}


def build_parser(verb: str | None) -> argparse.ArgumentParser:
    """All verbs for --help; only ``verb``'s module is imported to add its options."""
    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for name, (module_name, help_text) in VERBS.items():
        verb_parser = sub.add_parser(name, help=help_text, description=help_text)
        verb_parser.set_defaults(module=module_name)
        if name == verb:
            importlib.import_module(module_name).add_arguments(verb_parser)
    return parser


def main(argv: list[str] | None = None) -> NoReturn:
    args_list = sys.argv[1:] if argv is None else argv
    verb = next((a for a in args_list if not a.startswith("-")), None)
    args = build_parser(verb).parse_args(args_list)
    module = importlib.import_module(args.module)
    try:
        sys.exit(module.run(args))
    except Error as exc:  # BuildError included: every verb's failure is one line
        die(exc.message, hint=exc.hint, status=exc.exit_status)
    except OSError as exc:  # e.g. an unwritable -o: a stray system call failure is one line too
        where = f"{exc.filename}: " if exc.filename else ""
        die(f"{where}{describe_errno(exc)}", hint="check the path and its permissions")
    except KeyboardInterrupt:
        die("interrupted", status=130)


if __name__ == "__main__":
    main()
