"""Boot a kernel and initramfs under QEMU (x86_64 or aarch64), console on serial, always cleaned up.

Acceleration: KVM when its vendor module is kvm_intel or kvm_amd and /dev/kvm opens;
otherwise TCG. Measured on these machines: /dev/kvm exists but belongs to kvm_pvm, which
only runs PVM-enabled guest kernels; Debian's kernel hangs or fails with "failed to set
MSR" there, while TCG boots it. One vCPU: ``-smp 1`` booted faster than ``-smp 2`` here.

The VM has no network (``-nic none``): the tests' network rule allows no traffic beyond
the machine, and the guest needs none (images come in the initramfs). The host talks to
the guest through the serial console (read) and QMP on a unix socket (power button:
Ctrl-Alt-Del, which the guest's PID 1 turns into a clean power-off).

arm64 runs under qemu-system-aarch64 (Debian's qemu-system-arm), always TCG on this x86
host, on ``-machine virt`` with a Cortex-A57: under TCG ``-cpu max`` emulates pointer
authentication in software (QEMU's docs on pauth-impdef), which costs far more than it
brings a test VM. Its console is the PL011 UART, ``ttyAMA0``. ``virt`` has no keyboard, so
there are no Ctrl-Alt-Del keys to press: an arm64 VM powers itself off (``--poweroff``) or
is stopped.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from docker_from_scratch.builder.errors import BuildError
from docker_from_scratch.builder.proc import run_tool, start

KVM_VENDOR_MODULES = ("kvm_intel", "kvm_amd")


@dataclass(frozen=True)
class Machine:
    """How QEMU emulates one Debian architecture."""

    qemu: str  # the emulator binary
    package: str  # the Debian package that ships it
    console: str  # the kernel's name for the serial port on stdio
    args: tuple[str, ...]  # machine and devices
    tcg_cpu: str
    host_arch: str  # the platform.machine() where KVM could run it
    keyboard: bool  # whether QMP send-key reaches the guest (Ctrl-Alt-Del)


MACHINES = {
    "amd64": Machine("qemu-system-x86_64", "qemu-system-x86", "ttyS0", ("-vga", "none"), "max", "x86_64", True),
    "arm64": Machine("qemu-system-aarch64", "qemu-system-arm", "ttyAMA0", ("-machine", "virt"), "cortex-a57",
                     "aarch64", False),
}  # fmt: skip
QEMU = MACHINES["amd64"].qemu


def machine(arch: str) -> Machine:
    try:
        return MACHINES[arch]
    except KeyError:
        raise BuildError(f"no QEMU machine known for {arch}", hint=f"use one of {', '.join(MACHINES)}") from None


def kvm_usable(sys_module: Path = Path("/sys/module"), device: str = "/dev/kvm") -> bool:
    """True when KVM can run an ordinary guest kernel here (not PVM, device accessible)."""
    if not any((sys_module / name).is_dir() for name in KVM_VENDOR_MODULES):
        return False
    return os.access(device, os.R_OK | os.W_OK)


def choose_accel(wanted: str = "auto", arch: str = "amd64") -> str:
    """``kvm`` or ``tcg``; ``auto`` takes KVM only where :func:`kvm_usable` says it works."""
    if wanted == "auto":
        import platform

        native = platform.machine() == machine(arch).host_arch
        return "kvm" if native and kvm_usable() else "tcg"
    if wanted not in ("kvm", "tcg"):
        raise BuildError(f"unknown accelerator {wanted!r}", hint="use auto, kvm or tcg")
    return wanted


@dataclass
class VmConfig:
    """What to boot and how."""

    kernel: Path
    initrd: Path
    cmdline: str = "console=ttyS0"
    memory_mb: int = 2048
    cpus: int = 1
    disk: Path | None = None
    accel: str = "auto"
    arch: str = "amd64"
    extra_args: list[str] = field(default_factory=list)


def qemu_argv(config: VmConfig, qmp_socket: Path) -> list[str]:
    """The qemu command line for ``config`` (serial console on stdio, QMP on a socket)."""
    emulated = machine(config.arch)
    accel = choose_accel(config.accel, config.arch)
    argv = [
        emulated.qemu,
        *emulated.args,
        "-accel", accel,
        "-cpu", "host" if accel == "kvm" else emulated.tcg_cpu,
        "-m", str(config.memory_mb),
        "-smp", str(config.cpus),
        "-kernel", os.fspath(config.kernel),
        "-initrd", os.fspath(config.initrd),
        "-append", config.cmdline,
        "-display", "none",
        "-serial", "stdio",
        "-monitor", "none",
        "-qmp", f"unix:{qmp_socket},server=on,wait=off",
        "-nic", "none",
        "-no-reboot",  # a guest reboot or panic ends qemu instead of looping
    ]  # fmt: skip
    if config.disk is not None:
        argv += ["-drive", f"file={config.disk},format=raw,if=virtio,discard=unmap"]
    return argv + config.extra_args


def make_disk(path: Path, size_mb: int) -> None:
    """A sparse raw disk with an ext4 file system (for /var/lib/docker), unless it exists."""
    if path.exists():
        return
    if shutil.which("mkfs.ext4") is None:
        raise BuildError("mkfs.ext4 is missing on the build host", hint="apt-get install e2fsprogs")
    with open(path, "wb") as handle:
        handle.truncate(size_mb * 1024 * 1024)
    try:
        run_tool(["mkfs.ext4", "-q", "-F", "-L", "docker-data", path])
    except BuildError:
        path.unlink()
        raise


class Qmp:
    """A minimal QMP client (JSON lines over a unix socket): enough to press keys and quit."""

    def __init__(self, path: Path, timeout: float = 10) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(os.fspath(path))
        self.reader = self.sock.makefile("r")
        self._read()  # greeting
        self.execute("qmp_capabilities")

    def _read(self) -> dict[str, Any]:
        while True:
            line = self.reader.readline()
            if not line:
                raise BuildError("qemu closed its QMP socket")
            message: dict[str, Any] = json.loads(line)
            if "event" not in message:
                return message

    def execute(self, command: str, arguments: dict[str, Any] | None = None) -> Any:
        request: dict[str, Any] = {"execute": command}
        if arguments:
            request["arguments"] = arguments
        self.sock.sendall(json.dumps(request).encode() + b"\n")
        reply = self._read()
        if "error" in reply:
            raise BuildError(f"qemu: {command}: {reply['error'].get('desc', reply['error'])}")
        return reply.get("return")

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


class Vm:
    """A running qemu: its console lines (with host timestamps) and a power button."""

    def __init__(
        self, process: subprocess.Popen[bytes], qmp_socket: Path, echo: TextIO | None, keyboard: bool = True
    ) -> None:
        self.process = process
        self.keyboard = keyboard
        self.qmp_socket = qmp_socket
        self.started = time.monotonic()
        self.lines: list[tuple[float, str]] = []  # (seconds since qemu started, line)
        self._changed = threading.Condition()
        self._echo = echo
        self._reader = threading.Thread(target=self._read_console, daemon=True)
        self._reader.start()

    def _read_console(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode(errors="replace").rstrip("\r\n")
            with self._changed:
                self.lines.append((time.monotonic() - self.started, line))
                self._changed.notify_all()
            if self._echo is not None:
                self._echo.write(line + "\n")
                self._echo.flush()
        with self._changed:
            self._changed.notify_all()

    def console(self) -> str:
        with self._changed:
            return "\n".join(line for _, line in self.lines)

    def wait_for(self, pattern: str, timeout: float) -> tuple[float, re.Match[str]]:
        """The first console line matching ``pattern``: (seconds since start, match)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self._changed:
            while True:
                for stamp, line in self.lines[seen:]:
                    match = regex.search(line)
                    if match:
                        return stamp, match
                seen = len(self.lines)
                remaining = deadline - time.monotonic()
                if self.process.poll() is not None and not self._reader.is_alive():
                    raise BuildError(f"qemu exited ({self.process.returncode}) before {pattern!r} appeared")
                if remaining <= 0:
                    raise BuildError(f"{pattern!r} did not appear on the console within {timeout:.0f} s")
                self._changed.wait(min(remaining, 1.0))

    def press_ctrl_alt_delete(self) -> None:
        """The PC's reboot keys; the guest's PID 1 asks the kernel for SIGINT instead."""
        if not self.keyboard:
            raise BuildError("this machine has no keyboard for Ctrl-Alt-Del", hint="boot it with --poweroff")
        qmp = Qmp(self.qmp_socket)
        try:
            keys = [{"type": "qcode", "data": key} for key in ("ctrl", "alt", "delete")]
            qmp.execute("send-key", {"keys": keys})
        finally:
            qmp.close()

    def wait_exit(self, timeout: float | None) -> int:
        """qemu's exit status once the guest powered off; BuildError when it did not."""
        try:
            status = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise BuildError(f"the VM did not power off within {timeout} s") from None
        self._reader.join(5)
        return status


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL: qemu must never outlive the context."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def running_vm(
    config: VmConfig, *, echo: TextIO | None = None, on_start: Callable[[list[str]], None] | None = None
) -> Iterator[Vm]:
    """Start qemu for ``config``; on leaving, stop it (SIGTERM, then SIGKILL) if still running."""
    emulated = machine(config.arch)
    if shutil.which(emulated.qemu) is None:
        hint = f"apt-get install --no-install-recommends {emulated.package}"
        raise BuildError(f"{emulated.qemu} is missing", hint=hint)
    with tempfile.TemporaryDirectory(prefix="dfs-vm-") as tmp:
        qmp_socket = Path(tmp) / "qmp.sock"
        argv = qemu_argv(config, qmp_socket)
        if on_start is not None:
            on_start(argv)
        # qemu's own warnings join the console lines, in order with the guest's output.
        # Its own session: a Ctrl-C at the terminal reaches us only (qemu would quit at once on
        # SIGINT); we turn it into Ctrl-Alt-Del for a clean power-off.
        process = start(argv, new_session=True, die_with_parent=True)
        try:
            yield Vm(process, qmp_socket, echo, keyboard=emulated.keyboard)
        finally:
            _stop(process)
            if process.stdout is not None:
                process.stdout.close()
