"""Figure 9: a bare kernel under QEMU, from the kernel's exec of /init to dockerd answering.

``docker-from-scratch initramfs`` (the image's own files, Debian's kernel and modules) and
``docker-from-scratch vm --run 'docker version' --poweroff``; the times are the guest's
own, from PID 1's lines ("system prepared ... s after the kernel ran /init", "ready:
dockerd answers ..., X s after the kernel ran /init (uptime Y s)"). KVM does not boot
Debian's kernel on these machines, so this is TCG: one run, about a minute of one core.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

from bench import engine
from bench.session import CLI, Session
from bench.table import BenchError, Detail, Figure, Results, format_value
from docker_from_scratch.launcher.baremetal import READY_MESSAGE

AFTER_INIT = r"([0-9.]+) s after the kernel ran /init \(uptime ([0-9.]+) s\)"
READY = re.compile(rf"{re.escape(READY_MESSAGE)} on \S+, {AFTER_INIT}")
PREPARED = re.compile(rf"bare kernel: system prepared {AFTER_INIT}")
BOOT_TIMEOUT_S = 900


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


def measure(session: Session) -> Results:
    directory = session.work / "bare-kernel"
    session.log("bare-kernel: docker-from-scratch initramfs (the image's files, kernel, modules)")
    started = time.monotonic()
    result = subprocess.run([os.fspath(CLI), "initramfs", "-o", os.fspath(directory)],
                            capture_output=True, text=True, check=False)  # fmt: skip
    if result.returncode != 0:
        raise BenchError(f"docker-from-scratch initramfs failed: {(result.stderr.strip().splitlines() or [''])[-1]}")
    initramfs_s = time.monotonic() - started
    session.log("bare-kernel: booting under QEMU until dockerd answers, then power-off")
    started = time.monotonic()
    console = boot_once(os.fspath(directory), os.fspath(session.work / "bare-kernel-console.log"))
    wall_s = time.monotonic() - started
    ready, prepared = READY.search(console), PREPARED.search(console)
    if ready is None:
        tail = " / ".join(console.strip().splitlines()[-3:])
        raise BenchError(f"no '{READY_MESSAGE}' line on the VM's console: {tail}")
    after_init, uptime = float(ready.group(1)), float(ready.group(2))
    own = dockerd_own_start(console)
    figure = Figure(
        key="bare-kernel.ready",
        title="Bare kernel (QEMU TCG, 1 vCPU): kernel's exec of /init to dockerd answering",
        unit="s",
        runs=[after_init],
        baseline_title="dockerd's own start in the guest (its log)" if own is not None else "",
        baseline_runs=[own] if own is not None else [],
        note="docker-from-scratch initramfs + vm --run 'docker version' --poweroff; the guest's own clock, "
        "from PID 1's console lines; baseline: dockerd's own start in the same boot, from 'Starting up' to "
        "'API listen on' in its log (the floor: the rest is the kernel's /init work, PID 1 and the launcher)",
    )
    rows = [
        ["kernel start to its exec of /init (guest uptime)", format_value(uptime - after_init, "s")],
        ["/init to the system prepared (PID 1: root switch, /proc, /dev, lo, data root)",
         format_value(float(prepared.group(1)), "s") if prepared else "-"],
        ["/init to dockerd answering", format_value(after_init, "s")],
        ["whole VM run on the host (boot, docker version, power-off)", format_value(wall_s, "s")],
        ["making the initramfs (warm cache)", format_value(initramfs_s, "s")],
    ]  # fmt: skip
    return Results([figure], [Detail("Bare kernel: one boot under TCG", ["phase", "time"], rows)])
