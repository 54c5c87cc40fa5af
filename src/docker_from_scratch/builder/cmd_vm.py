"""``docker-from-scratch vm``: boot the initramfs under QEMU with the launcher as PID 1.

The console is the VM's serial port, shown here. Ctrl-C presses Ctrl-Alt-Del in the VM:
PID 1 stops dockerd and powers off (arm64's ``virt`` machine has no keyboard: there Ctrl-C
stops qemu). The architecture is the one ``initramfs --arch`` wrote, unless ``--arch``
says. ``--run CMD`` runs CMD inside once dockerd answers (after loading the images
shipped in the initramfs); with ``--poweroff`` the VM powers off after the last one.
"""

import argparse
import signal
import sys
from pathlib import Path

from docker_from_scratch.builder import qemu
from docker_from_scratch.builder.cmd_initramfs import ARCH_NAME, CPIO_NAME, KERNEL_NAME
from docker_from_scratch.builder.errors import BuildError

# quiet: the kernel's boot log costs time on a serial console under TCG. panic=-1 with
# qemu's -no-reboot: a kernel panic (PID 1 died) ends qemu instead of hanging.
BASE_CMDLINE = "quiet panic=-1"
DISK_DEVICE = "/dev/vda"  # the first virtio disk
POWEROFF_WAIT_S = 120


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "directory",
        type=Path,
        nargs="?",
        default=Path("out/bare-kernel"),
        help="what `initramfs -o` wrote (default: out/bare-kernel)",
    )
    parser.add_argument("--arch", choices=sorted(qemu.MACHINES),
                        help="the guest's architecture (default: what `initramfs --arch` wrote, else amd64)")
    parser.add_argument("--memory", type=int, default=2048, metavar="MB", help="guest memory (default: 2048)")
    parser.add_argument("--cpus", type=int, default=1, help="vCPUs (default: 1, faster under TCG here)")
    parser.add_argument(
        "--accel",
        choices=("auto", "kvm", "tcg"),
        default="auto",
        help="KVM where it boots Debian's kernel, else TCG (default: auto)",
    )
    parser.add_argument(
        "--disk",
        type=Path,
        metavar="FILE",
        help="raw disk for /var/lib/docker (made with ext4 if missing); default: a tmpfs",
    )
    parser.add_argument(
        "--disk-size", type=int, default=4096, metavar="MB", help="size of a new --disk (default: 4096)"
    )
    parser.add_argument("--hostname", help="the VM's hostname (default: docker)")
    parser.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="CMD",
        help="a command to run inside once dockerd answers; repeatable",
    )
    parser.add_argument("--poweroff", action="store_true", help="power off after the last --run command")
    parser.add_argument("--append", default="", metavar="ARGS", help="more kernel command line")
    parser.add_argument("--debug", action="store_true", help="the launcher logs every step (DOCKER_LAUNCH_DEBUG)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable for the launcher and dockerd; repeatable")
    parser.add_argument("--dockerd-args", default="", metavar="ARGS",
                        help="dockerd's arguments, as in `docker run IMAGE ARGS`")  # fmt: skip


def kernel_cmdline(
    *,
    run: list[str] | None = None,
    poweroff: bool = False,
    disk: bool = False,
    hostname: str | None = None,
    append: str = "",
    env: list[str] | None = None,
    dockerd_args: list[str] | None = None,
    arch: str = "amd64",
) -> str:
    """The kernel command line; values with spaces are double-quoted, as the kernel parses them."""
    words = [f"console={qemu.machine(arch).console}", BASE_CMDLINE]
    if hostname:
        words.append(f"dockerlaunch.hostname={hostname}")
    if disk:
        words.append(f"dockerlaunch.data={DISK_DEVICE}")
    for command in run or []:
        if '"' in command:
            raise BuildError(f"--run {command!r}: the kernel command line cannot carry double quotes",
                             hint="use single quotes inside the command")  # fmt: skip
        words.append(f'dockerlaunch.run="{command}"')
    if poweroff:
        words.append("dockerlaunch.poweroff=1")
    for assignment in env or []:
        name, equals, _ = assignment.partition("=")
        if not equals or not name or "." in name or " " in assignment or '"' in assignment:
            raise BuildError(f"--env {assignment!r} cannot reach init's environment",
                             hint="give NAME=VALUE without dots in NAME and without spaces")  # fmt: skip
        words.append(assignment)
    if append:
        words.append(append)
    if dockerd_args:
        if any('"' in arg for arg in dockerd_args):
            raise BuildError("dockerd arguments cannot hold double quotes on a kernel command line")
        words += ["--", *dockerd_args]
    return " ".join(words)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    return boot(args)


def directory_arch(directory: Path) -> str:
    """The architecture ``initramfs`` recorded in ``directory`` (amd64 before it did)."""
    recorded = directory / ARCH_NAME
    return recorded.read_text().strip() if recorded.is_file() else "amd64"


def boot(args: argparse.Namespace) -> int:
    """Boot, echo the console, and turn Ctrl-C or SIGTERM into a clean power-off."""
    directory: Path = args.directory
    kernel, initrd = directory / KERNEL_NAME, directory / CPIO_NAME
    for path in (kernel, initrd):
        if not path.is_file():
            raise BuildError(f"{path} is missing", hint=f"run docker-from-scratch initramfs -o {directory}")
    arch = args.arch or directory_arch(directory)
    if arch != directory_arch(directory):
        raise BuildError(f"{directory} holds a {directory_arch(directory)} kernel, not {arch}",
                         hint=f"run docker-from-scratch initramfs --arch {arch} -o {directory}")  # fmt: skip
    if args.disk is not None:
        qemu.make_disk(args.disk, args.disk_size)
    env = [*args.env, *(["DOCKER_LAUNCH_DEBUG=true"] if args.debug else [])]
    cmdline = kernel_cmdline(run=args.run, poweroff=args.poweroff, disk=args.disk is not None,
                             hostname=args.hostname, append=args.append, env=env,
                             dockerd_args=args.dockerd_args.split(), arch=arch)  # fmt: skip
    config = qemu.VmConfig(kernel=kernel, initrd=initrd, cmdline=cmdline, memory_mb=args.memory,
                           cpus=args.cpus, disk=args.disk, accel=args.accel, arch=arch)  # fmt: skip
    accel = qemu.choose_accel(args.accel, arch)
    print(f"docker-from-scratch: booting {arch} with {accel}: {cmdline}", file=sys.stderr)
    # SIGTERM like Ctrl-C: a clean power-off; SIGINT explicitly, as a background job ignores it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    with qemu.running_vm(config, echo=sys.stdout) as vm:
        try:
            return vm.wait_exit(timeout=None)
        except KeyboardInterrupt:
            if not vm.keyboard:
                print("docker-from-scratch: no keyboard on this machine: stopping qemu", file=sys.stderr)
                return 130
            print("docker-from-scratch: Ctrl-Alt-Del: the VM stops dockerd and powers off", file=sys.stderr)
            vm.press_ctrl_alt_delete()
            return vm.wait_exit(POWEROFF_WAIT_S)
