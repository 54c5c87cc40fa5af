"""Figure 9: a bare kernel under QEMU, from the kernel's exec of /init to dockerd answering.

``docker-from-scratch initramfs`` (the image's own files, Debian's kernel and modules) and
``docker-from-scratch vm --run 'docker version' --poweroff``; the times are the guest's
own, from PID 1's lines ("system prepared ... s after the kernel ran /init", "ready:
dockerd answers ..., X s after the kernel ran /init (uptime Y s)"). KVM does not boot
Debian's kernel on these machines, so this is TCG: about a minute of one core per boot,
three boots of amd64 (one with --quick; a single boot moves by 10% between runs), shown
by the boot with the median ratio. arm64 boots once, the same way under
qemu-system-aarch64 (``initramfs --arch arm64``), next to amd64 in the same run.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

from bench import engine
from bench.session import CLI, Session
from bench.table import BenchError, Detail, Figure, Results, Target, format_value
from docker_from_scratch.launcher.baremetal import (
    CLOCK_MESSAGE,
    EXEC_MESSAGE,
    MODULES_MESSAGE,
    PID1_MESSAGE,
    READY_MESSAGE,
)

AFTER_INIT = r"([0-9.]+) s after the kernel ran /init \(uptime ([0-9.]+) s\)"
READY = re.compile(rf"{re.escape(READY_MESSAGE)} on \S+, {AFTER_INIT}")
PREPARED = re.compile(rf"bare kernel: system prepared {AFTER_INIT}")
PID1 = re.compile(rf"{re.escape(PID1_MESSAGE)} \(uptime ([0-9.]+) s\)")
MODULES = re.compile(rf"{re.escape(MODULES_MESSAGE)} (\d+) asked for in one modprobe, ([0-9.]+) s")
EXEC = re.compile(rf"{re.escape(EXEC_MESSAGE)} \S+ at uptime ([0-9.]+) s")
CLOCK = re.compile(rf"{re.escape(CLOCK_MESSAGE)} realtime ([0-9.]+) s at uptime ([0-9.]+) s")
BOOT_TIMEOUT_S = 900
TARGET_RATIO = 1.25  # issue 18: /init to answering within a quarter more than dockerd's own start


class Phases:
    """Where one boot's time went, on the guest's uptime clock, from PID 1's console lines.

    dockerd logs realtime; PID 1's clock line maps it onto uptime. Each field is None when
    its line is missing (an older launcher, a failed boot).
    """

    def __init__(self, console: str) -> None:
        ready, prepared = READY.search(console), PREPARED.search(console)
        pid1, modules, clock = PID1.search(console), MODULES.search(console), CLOCK.search(console)
        executed = EXEC.search(console)
        self.init_exec = float(ready.group(2)) - float(ready.group(1)) if ready else None
        self.ready = float(ready.group(2)) if ready else None
        self.pid1 = float(pid1.group(1)) if pid1 else None
        self.prepared = float(prepared.group(2)) if prepared else None
        self.modules_count = int(modules.group(1)) if modules else 0
        self.modules_s = float(modules.group(2)) if modules else None
        self.dockerd_exec = float(executed.group(1)) if executed else None
        milestones = engine.dockerd_milestones(console)
        offset = float(clock.group(1)) - float(clock.group(2)) if clock else None  # realtime at uptime 0
        start, listen = milestones.get("Starting up"), milestones.get("API listen on")
        self.dockerd_start = start - offset if start is not None and offset is not None else None
        self.dockerd_listen = listen - offset if listen is not None and offset is not None else None

    @staticmethod
    def span(start: float | None, end: float | None) -> float | None:
        return end - start if start is not None and end is not None else None

    def rows(self, arch: str) -> list[list[str]]:
        def cell(value: float | None) -> str:
            return format_value(value, "s") if value is not None else "-"

        modules = f"{self.modules_count} in one modprobe: {cell(self.modules_s)}" if self.modules_s is not None else "-"
        return [
            [f"{arch}: /init to PID 1's first line (the interpreter's start-up)",
             cell(self.span(self.init_exec, self.pid1))],
            [f"{arch}: PID 1's first line to the system prepared (root switch, API file systems, lo, data root, "
             "kernel modules)", cell(self.span(self.pid1, self.prepared))],
            [f"{arch}: of which kernel modules (PID 1)", modules],
            [f"{arch}: the system prepared to the exec of dockerd (the launcher's steps, TLS)",
             cell(self.span(self.prepared, self.dockerd_exec))],
            [f"{arch}: the exec of dockerd to its 'Starting up' (its Go runtime and set-up before its first log line)",
             cell(self.span(self.dockerd_exec, self.dockerd_start))],
            [f"{arch}: dockerd's 'Starting up' to 'API listen on' (its own start)",
             cell(self.span(self.dockerd_start, self.dockerd_listen))],
            [f"{arch}: 'API listen on' to the ready line (PID 1's runner polls /_ping)",
             cell(self.span(self.dockerd_listen, self.ready))],
        ]  # fmt: skip

    def holds_back(self) -> str:
        """The largest phase outside dockerd's own start, with its figure."""
        outside = {
            "the interpreter's start-up as PID 1": self.span(self.init_exec, self.pid1),
            "PID 1's system preparation": self.span(self.pid1, self.prepared),
            "the launcher before exec of dockerd": self.span(self.prepared, self.dockerd_exec),
            "the ready poll": self.span(self.dockerd_listen, self.ready),
        }
        known = {name: value for name, value in outside.items() if value is not None}
        if not known:
            return ""
        parts = [f"{name} {value:.1f} s" for name, value in sorted(known.items(), key=lambda item: -item[1])]
        return "outside dockerd's own start: " + ", ".join(parts)

    def own_start(self) -> float | None:
        """dockerd's own start: from its exec (the launcher's last act) to 'API listen on'."""
        return self.span(self.dockerd_exec, self.dockerd_listen)


def dockerd_own_start(console: str) -> float | None:
    """Seconds from dockerd's "Starting up" to its first "API listen on", from its own log."""
    found = engine.dockerd_milestones(console)
    if len(found) < 2:
        return None
    return found["API listen on"] - found["Starting up"]


def boot_once(directory: str, log_path: str) -> str:
    """Boot, run ``docker version`` inside, power off; the console output."""
    argv = [os.fspath(CLI), "vm", directory, "--run", "docker version --format {{.Server.Version}}", "--poweroff"]
    with open(log_path, "w") as log, subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT) as process:
        try:
            process.wait(timeout=BOOT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGINT)  # the vm verb presses Ctrl-Alt-Del, then kills qemu
            try:
                process.wait(timeout=150)
            except subprocess.TimeoutExpired:
                process.kill()
            raise BenchError(f"the VM did not power off within {BOOT_TIMEOUT_S} s (console: {log_path})") from None
    with open(log_path) as log:
        return log.read()


ARCHES = ("amd64", "arm64")


def make_initramfs(session: Session, arch: str) -> tuple[str, float]:
    """Make the initramfs for ``arch``: (its directory, seconds)."""
    directory = session.work / f"bare-kernel-{arch}"
    session.log(f"bare-kernel: docker-from-scratch initramfs --arch {arch} (the image's files, kernel, modules)")
    started = time.monotonic()
    result = subprocess.run([os.fspath(CLI), "initramfs", "--arch", arch, "-o", os.fspath(directory)],
                            capture_output=True, text=True, check=False)  # fmt: skip
    if result.returncode != 0:
        raise BenchError(f"docker-from-scratch initramfs failed: {(result.stderr.strip().splitlines() or [''])[-1]}")
    return os.fspath(directory), time.monotonic() - started


class Boot:
    """One boot's console and what the figure takes from it."""

    def __init__(self, arch: str, console: str, wall_s: float) -> None:
        ready = READY.search(console)
        if ready is None:
            tail = " / ".join(console.strip().splitlines()[-3:])
            raise BenchError(f"no '{READY_MESSAGE}' line on the {arch} VM's console: {tail}")
        self.after_init, self.uptime = float(ready.group(1)), float(ready.group(2))
        self.phases = Phases(console)
        self.wall_s = wall_s
        # From dockerd's exec where PID 1 saw it; its log's 'Starting up' misses the Go runtime's start.
        self.own, self.logged = self.phases.own_start(), dockerd_own_start(console)
        self.own_title = "dockerd's own start in the guest, exec to 'API listen on'"
        if self.own is None and self.logged is not None:
            self.own, self.own_title = self.logged, "dockerd's own start in the guest, its log"

    def ratio(self) -> float:
        """Ours over dockerd's own start in this boot (infinite without a baseline)."""
        return self.after_init / self.own if self.own else float("inf")


def boot_arch(session: Session, arch: str, directory: str, index: int) -> Boot:
    session.log(f"bare-kernel: booting {arch} under QEMU until dockerd answers, then power-off")
    started = time.monotonic()
    console = boot_once(directory, os.fspath(session.work / f"bare-kernel-{arch}-console-{index}.log"))
    return Boot(arch, console, time.monotonic() - started)


def measure(session: Session) -> Results:
    figures: list[Figure] = []
    rows: list[list[str]] = []
    ready_s: dict[str, float] = {}
    for arch in ARCHES:
        directory, initramfs_s = make_initramfs(session, arch)
        # amd64 carries the target: several boots (one boot moves by 10% between runs);
        # arm64 is one boot, a figure without a target.
        boots = [boot_arch(session, arch, directory, index)
                 for index in range(session.repetitions(3, 1) if arch == "amd64" else 1)]  # fmt: skip
        # The boot with the median ratio stands for all: ours and its baseline from the same
        # boot, as the note says, with that boot's phases.
        middle = sorted(boots, key=Boot.ratio)[len(boots) // 2]
        after_init, phases, logged = middle.after_init, middle.phases, middle.logged
        ready_s[arch] = after_init
        if arch == "amd64":
            figures.append(Figure(
                key="bare-kernel.ready",
                title="Bare kernel (QEMU TCG, 1 vCPU): kernel's exec of /init to dockerd answering",
                unit="s",
                runs=[after_init],
                baseline_title=middle.own_title if middle.own is not None else "",
                baseline_runs=[middle.own] if middle.own is not None else [],
                target=Target("ratio", TARGET_RATIO),
                holds_back=phases.holds_back(),
                note="docker-from-scratch initramfs + vm --run 'docker version' --poweroff; the guest's own clock, "
                "from PID 1's console lines; baseline: dockerd's own start in the same boot, from its exec (PID 1's "
                "runner sees /proc/PID/exe change, every 50 ms) to 'API listen on' in its log (the floor: the rest is "
                "PID 1 and the launcher); until this round it was counted from 'Starting up', which leaves out the "
                "seconds dockerd spends under TCG before its first log line (both are in the phases); "
                "3 boots (1 with --quick): the one with the median ratio is shown, every boot's ratio is in the phases",
            ))  # fmt: skip
        else:
            figures.append(Figure(
                key=f"bare-kernel.ready-{arch}",
                title=f"Bare kernel, {arch} (qemu-system-aarch64 TCG, virt, 1 vCPU): /init to dockerd answering",
                unit="s",
                runs=[after_init],
                baseline_title="the same on amd64 (qemu-system-x86_64 TCG), same run",
                baseline_runs=[ready_s["amd64"]],
                note=f"initramfs --arch {arch} + vm --run 'docker version' --poweroff, guest clock as for amd64; "
                "the ratio is what emulating AArch64 on this x86 host costs",
            ))  # fmt: skip
        rows += [
            [f"{arch}: kernel start to its exec of /init (guest uptime)",
             format_value(middle.uptime - after_init, "s")],
            *phases.rows(arch),
            [f"{arch}: ratio with the baseline from 'Starting up' (the definition before this round)",
             f"{after_init / logged:.3f}" if logged else "-"],
            [f"{arch}: /init to dockerd answering (the boot shown)", format_value(after_init, "s")],
            [f"{arch}: ratio of each boot, ours / dockerd's own start",
             ", ".join(f"{boot.ratio():.3f}" for boot in boots)],
            [f"{arch}: whole VM run on the host (boot, docker version, power-off)", format_value(middle.wall_s, "s")],
            [f"{arch}: making the initramfs", format_value(initramfs_s, "s")],
        ]  # fmt: skip
    title = "Bare kernel under TCG: the phases of the amd64 boot with the median ratio and of the arm64 boot"
    return Results(figures, [Detail(title, ["phase", "time"], rows)])
