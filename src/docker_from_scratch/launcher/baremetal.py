"""PID 1 on a bare kernel (RancherOS mode): what a booted system would have done for us.

The kernel runs /init (the launcher) from the initramfs with nothing set up: no /proc,
no /dev beyond the archive's console node, ``lo`` down, no hostname, and only
``HOME`` and ``TERM`` in the environment. ``boot()`` is called first thing in the
launcher's main when :func:`is_bare_kernel` says so. PID 1 then:

1. switches its root to a bind mount of the initramfs (see :func:`switch_root`),
2. mounts the API file systems (the same step the container case uses),
3. brings up ``lo``, sets the hostname, puts /var/lib/docker on a tmpfs or on the disk
   named by ``dockerlaunch.data=`` on the kernel command line, loads the launcher's
   kernel modules in one modprobe,
4. forks the launcher as its child (not PID 1, /proc mounted: the ordinary container
   path, which execs dockerd; a fork keeps PID 1's imports) and a boot runner child
   that logs the launcher's exec of dockerd, prints the ready line once dockerd
   answers, loads the images shipped in the initramfs and runs the
   ``dockerlaunch.run=`` commands,
5. supervises (reaps every orphan, forwards SIGTERM/SIGINT; Ctrl-Alt-Del arrives as
   SIGINT), and once dockerd has stopped, stops what is left and powers the machine off.
   PID 1 must never exit: the kernel panics when it does.

Kernel command line (read from /proc/cmdline; dotted names never reach init's
environment, the kernel keeps them as module parameters):

    dockerlaunch.hostname=NAME    hostname (default: docker)
    dockerlaunch.data=DEVICE      ext4 disk for /var/lib/docker (default: a tmpfs)
    dockerlaunch.run="CMD ARGS"   run once dockerd answers (repeatable, in order)
    dockerlaunch.poweroff=1       power off after the last run command
    NAME=VALUE                    reaches init's environment (DOCKER_LAUNCH_DEBUG=true ...)
    -- ARGS                       dockerd's arguments, as in ``docker run IMAGE ARGS``

Standard library only; ``fcntl``, ``socket``, ``struct``, ``launcher.api`` are imported by
the functions that need them.
"""

from __future__ import annotations

import os
import sys
import time

from docker_from_scratch.launcher import log
from docker_from_scratch.requirements.layout import DATA_ROOT, DOCKER_SOCKET, ENTRYPOINT, IMAGES_DIR
from docker_from_scratch.requirements.modules import DISK_MODULES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import BinaryIO, NoReturn

CMDLINE_PREFIX = "dockerlaunch."
DEFAULT_HOSTNAME = "docker"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
READY_MESSAGE = "ready: dockerd answers"
PID1_MESSAGE = "bare kernel: PID 1 started"
MODULES_MESSAGE = "bare kernel: kernel modules:"
# Maps dockerd's log times (realtime) to uptime, for the bench's phases of a boot.
CLOCK_MESSAGE = "bare kernel: clock:"
EXEC_MESSAGE = "bare kernel: the launcher exec'd"
BIND_ROOT = "/.bare-root"
# The image's ENTRYPOINT after the launcher: a VM has no image config.
ENTRYPOINT_ARGS = ENTRYPOINT[1:]
# <linux/reboot.h>: with Ctrl-Alt-Del "off" the kernel sends SIGINT to PID 1 instead of
# rebooting at once, so the keys (or QMP send-key) ask for a clean power-off.
RB_DISABLE_CAD = 0
# <linux/sockios.h>, <linux/if.h>
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
READY_TIMEOUT_S = 600.0
STOP_GRACE_S = 10.0


class BootOptions:
    """The ``dockerlaunch.*`` settings of the kernel command line."""

    def __init__(self) -> None:
        self.hostname = DEFAULT_HOSTNAME
        self.data_device: str | None = None
        self.run: list[str] = []
        self.poweroff_after_run = False


def is_bare_kernel() -> bool:
    """PID 1 with no /proc: the kernel started us (a container runtime mounts /proc first)."""
    return os.getpid() == 1 and not os.path.exists("/proc/self")


def parse_cmdline(cmdline: str) -> BootOptions:
    """The ``dockerlaunch.*`` words before ``--``; quotes group words as the kernel does."""
    import shlex

    options = BootOptions()
    for word in shlex.split(cmdline):
        if word == "--":
            break
        key, _, value = word.partition("=")
        if not key.startswith(CMDLINE_PREFIX):
            continue
        name = key[len(CMDLINE_PREFIX) :]
        if name == "hostname" and value:
            options.hostname = value
        elif name == "data":
            options.data_device = value or None
        elif name == "run" and value:
            options.run.append(value)
        elif name == "poweroff":
            options.poweroff_after_run = value.lower() not in ("0", "false", "no", "off")
        else:
            log.warn(f"kernel command line: unknown {key}, ignored")
    return options


def uptime() -> float:
    with open("/proc/uptime") as handle:
        return float(handle.read().split()[0])


def init_exec_uptime(kmsg: str = "/dev/kmsg") -> float | None:
    """When the kernel ran /init, from its "Run /init as init process" log record."""
    try:
        fd = os.open(kmsg, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        while True:
            try:
                record = os.read(fd, 8192).decode(errors="replace")
            except BlockingIOError:
                return None
            except OSError:  # EPIPE: a record was overwritten while we read; go on
                continue
            prefix, _, message = record.partition(";")
            if message.startswith("Run ") and "as init process" in message:
                return int(prefix.split(",")[2]) / 1e6
    finally:
        os.close(fd)


def root_fs_type(mountinfo: str = "/proc/self/mountinfo") -> str:
    """The file system type of / ("rootfs" for the initramfs), from mountinfo."""
    with open(mountinfo) as handle:
        for line in handle:
            fields = line.split()
            if fields[4] == "/":
                return fields[fields.index("-") + 1]
    return ""


def switch_root(bind_dir: str = BIND_ROOT) -> None:
    """Make / a bind mount of the initramfs, so runc's pivot_root works under it.

    pivot_root(2) refuses a root that has no parent mount, and the initramfs (rootfs) is
    the one mount without a parent: runc fails with "pivot_root .: invalid argument"
    (measured here). The usual ways out are DOCKER_RAMDISK=true (runc then only
    chroots: a container process with CAP_SYS_CHROOT can get out of a chroot) or
    switch_root into a tmpfs (copies the whole image, ~220 MB, at every boot). A bind
    mount of rootfs moved onto / gives / a parent without copying a byte: the same
    MS_MOVE + chroot that switch_root does, with the initramfs itself as the new root.
    """
    from docker_from_scratch.launcher import syscalls

    os.makedirs(bind_dir, exist_ok=True)
    syscalls.mount("/", bind_dir, None, syscalls.MS_BIND | syscalls.MS_REC)
    os.chdir(bind_dir)
    syscalls.mount(bind_dir, "/", None, syscalls.MS_MOVE)
    os.chroot(".")
    os.chdir("/")
    os.rmdir(bind_dir)  # the same directory, seen through the bind; no longer a mount point


def bring_up_loopback(name: str = "lo") -> None:
    """SIOCSIFFLAGS |= IFF_UP; the kernel then adds 127.0.0.1/8 and ::1 itself."""
    import fcntl
    import socket
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH", name.encode(), 0)
        flags = struct.unpack("16sH", fcntl.ioctl(sock, SIOCGIFFLAGS, request)[:18])[1]
        if flags & IFF_UP:
            log.debug(f"{name}: already up")
            return
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH", name.encode(), flags | IFF_UP))
    log.debug(f"{name}: up")


def set_hostname(name: str) -> None:
    import socket

    socket.sethostname(name)
    log.debug(f"hostname: {name}")


def wait_for_device(path: str, timeout: float = 10.0) -> None:
    """devtmpfs creates the node when the driver probes the disk, shortly after loading."""
    from docker_from_scratch.launcher.errors import LaunchError

    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise LaunchError(f"{path} did not appear within {timeout:.0f} s", hint="check the VM's disk option")
        time.sleep(0.05)


def mount_data_root(device: str | None, target: str = DATA_ROOT) -> None:
    """The disk when one is named, else a tmpfs: overlay2 needs a data root that is not
    the initramfs itself only for a clean unmount and a size limit; both work (measured)."""
    from docker_from_scratch.launcher import mounts, run, syscalls

    mounts.make_directory(target, 0o710)
    if device is None:
        mounts.mount("tmpfs", target, "tmpfs", syscalls.MS_NOSUID | syscalls.MS_NODEV, "mode=0710")
        log.debug(f"{target}: tmpfs")
        return
    run.run(["modprobe", "-a", *DISK_MODULES], env={"PATH": DEFAULT_PATH})
    wait_for_device(device)
    mounts.mount(device, target, "ext4", syscalls.MS_NOSUID | syscalls.MS_NODEV)
    log.debug(f"{target}: ext4 on {device}")


def load_modules_at_once(search_path: str = DEFAULT_PATH) -> tuple[int, float]:
    """One ``modprobe -a`` for every module of the launcher's list the kernel lacks.

    The launcher's own step (launcher/kmod.py) runs one modprobe per module, so that each
    failure names the feature it costs. Under TCG each run is a whole kmod start-up
    (dynamic loading of libkmod, libcrypto, liblzma, libzstd, reading modules.dep.bin):
    measured in a bare-kernel boot here, fifteen runs took 9.1 s at load 9 (see the
    bench's bare-kernel phases). PID 1 loads them all in one run first; kmod's ``-a``
    goes on past a module that fails, and the launcher's step then finds the rest loaded
    and runs modprobe only for what is still missing, with its per-module warning.
    Returns (modules asked for, seconds taken); (0, 0.0) when there is nothing to do or
    no modprobe (the launcher's step says what that costs).
    """
    from docker_from_scratch.launcher import autoload, files, run
    from docker_from_scratch.launcher.errors import LaunchError
    from docker_from_scratch.requirements.modules import MODULES, normalize, present_modules
    from docker_from_scratch.requirements.paths import find_program

    release = os.uname().release
    if os.environ.get(autoload.ENV, "").strip().lower() == "off":
        return 0, 0.0  # the launcher's module step is off too: the kernel's modules stay as they are
    if not os.path.isdir(f"/lib/modules/{release}"):
        return 0, 0.0
    builtin, loaded = present_modules("/", release)
    missing = [name for name, _feature in MODULES if normalize(name) not in builtin | loaded]
    modprobe = find_program("modprobe", files.extend_path(search_path))
    if not missing or modprobe is None:
        return 0, 0.0
    started = time.monotonic()
    try:
        result = run.run([modprobe, "-a", *missing], check=False)
    except LaunchError as error:  # a speed-up only: the launcher's own step loads them anyway
        log.warn(f"modprobe -a: {error}")
        return len(missing), time.monotonic() - started
    if result.returncode != 0:  # the launcher's step names each module that is still missing
        log.debug(f"modprobe -a: {result.last_words()}")
    return len(missing), time.monotonic() - started


def prepare_system(options: BootOptions) -> None:
    """Everything before dockerd that a booted system would have done."""
    from docker_from_scratch.launcher import mounts, syscalls

    initramfs = root_fs_type() == "rootfs"
    syscalls.umount("/proc")  # mounted again by the API file systems step, below the new root
    if initramfs:
        with log.step("switch root to a bind mount of the initramfs"):
            switch_root()
    else:  # booted with root= and init=: a real root file system, pivot_root works there
        log.debug("root is not the initramfs: no root switch")
    with log.step("API file systems"):
        mounts.mount_api_filesystems()
    syscalls.reboot(RB_DISABLE_CAD)
    with log.step("loopback and hostname"):
        bring_up_loopback()
        set_hostname(options.hostname)
    with log.step("data root"):
        mount_data_root(options.data_device)
    with log.step("kernel modules, one modprobe"):
        count, seconds = load_modules_at_once()
    if count:
        log.info(f"{MODULES_MESSAGE} {count} asked for in one modprobe, {seconds:.2f} s")


# --- the boot runner: a child of PID 1 ---------------------------------------------------


def docker_api(method: str, path: str, body: bytes | BinaryIO | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    """One HTTP request to the VM's dockerd (see ``api.request``)."""
    from docker_from_scratch.launcher import api

    return api.request(method, path, body=body, socket_path=DOCKER_SOCKET, timeout=timeout)


def wait_until_ready(timeout: float = READY_TIMEOUT_S) -> bool:
    """Poll GET /_ping until dockerd answers OK (every 0.2 s: cheap even under TCG)."""
    from docker_from_scratch.launcher import api

    return api.wait_until_answers(DOCKER_SOCKET, timeout, interval=0.2)


def load_images(directory: str = IMAGES_DIR) -> None:
    """POST each shipped image archive (docker save format) to /images/load."""
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(".tar"))
    except FileNotFoundError:
        return
    for name in names:
        path = os.path.join(directory, name)
        try:
            with open(path, "rb") as archive:
                # One deadline covers upload and unpacking: generous, an arm64 guest under TCG is slow.
                status, body = docker_api("POST", "/images/load?quiet=1", body=archive, timeout=900)
        except OSError as exc:  # a time-out too: the boot goes on to its commands and power-off
            log.error(f"loading {path} failed: {exc}")
            continue
        if status != 200 or b'"error' in body:
            log.error(f"loading {path} failed: {status} {body.decode(errors='replace').strip()}")
        else:
            log.info(f"loaded {path}: {body.decode(errors='replace').strip()}")


def run_boot_command(command: str, started: float | None) -> int:
    """Run one command with its output on the console; log when its first line came."""
    import shlex

    from docker_from_scratch.errors import describe_status
    from docker_from_scratch.launcher import run
    from docker_from_scratch.launcher.errors import LaunchError

    env = dict(os.environ)
    env.setdefault("PATH", DEFAULT_PATH)
    log.info(f"run: {command}")
    first = True

    def on_output(data: bytes) -> None:
        nonlocal first
        if first:
            first = False
            log.info(f"first output {describe_time(started)}")
        sys.stdout.buffer.write(data)
        sys.stdout.flush()

    try:
        status = run.stream(shlex.split(command), on_output, env=env)
    except LaunchError as exc:
        log.error(f"run: {command}: {exc.message}")
        return 127
    log.info(f"run: {describe_status(status)}")
    return status


def describe_time(started: float | None) -> str:
    """``12.3 s after the kernel ran /init (uptime 15.0 s)``."""
    now = uptime()
    if started is None:
        return f"at uptime {now:.1f} s"
    return f"{now - started:.1f} s after the kernel ran /init (uptime {now:.1f} s)"


def wait_for_exec(pid: int, interval: float = 0.05) -> str | None:
    """Poll until process ``pid`` (the launcher) runs another program; that program's path.

    None when it ended first (the launcher failed: PID 1 reaps it and powers off). Every
    50 ms: a readlink costs little even under TCG, and the bench reads this moment as the
    start of dockerd's own start-up (the Go runtime and dockerd's set-up before its first
    log line took 9 s of a boot at load 11 here).
    """
    launcher = os.path.realpath(sys.executable)
    while True:
        try:
            program = os.readlink(f"/proc/{pid}/exe")
        except OSError:  # gone, or a zombie (no exe link)
            return None
        if program != launcher:
            return program
        time.sleep(interval)


def boot_runner(options: BootOptions, started: float | None, launcher: int | None = None) -> int:
    """Wait for dockerd, say so, load the shipped images, run the boot commands."""
    if launcher is not None:
        program = wait_for_exec(launcher)
        if program is not None:
            log.info(f"{EXEC_MESSAGE} {program} at uptime {uptime():.2f} s")
    if not wait_until_ready():
        log.error(f"dockerd did not answer on {DOCKER_SOCKET} within {READY_TIMEOUT_S:.0f} s")
        return 1
    log.info(f"{READY_MESSAGE} on {DOCKER_SOCKET}, {describe_time(started)}")
    load_images()
    for command in options.run:
        run_boot_command(command, started)
    if options.run and options.poweroff_after_run:
        log.info("boot commands done: asking PID 1 to power off")
        import signal

        os.kill(1, signal.SIGTERM)
    return 0


def _fork_runner(options: BootOptions, started: float | None, launcher: int | None = None) -> int:
    sys.stdout.flush()  # nothing buffered may be written twice
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            from docker_from_scratch.launcher import reaper

            reaper.default_signals()  # forked inside supervise: PID 1's handlers are set
            code = boot_runner(options, started, launcher)
        except BaseException as exc:  # a child must never return into PID 1's code
            log.error(f"boot runner: {exc!r}")
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    return pid


# --- PID 1 ---------------------------------------------------------------------------


def stop_everything(grace: float = STOP_GRACE_S) -> None:
    """SIGTERM to every process but us, then SIGKILL after ``grace``; reap them all."""
    import signal

    for signum, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
        try:
            os.kill(-1, signum)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                time.sleep(0.05)


def power_off(data_device: str | None) -> NoReturn:
    """Stop what is left, unmount the data disk, sync, power off (never returns)."""
    from docker_from_scratch.launcher import syscalls

    stop_everything()
    if data_device is not None:
        try:
            syscalls.umount(DATA_ROOT)
        except OSError as exc:
            log.warn(f"{DATA_ROOT}: not unmounted ({exc}); synced only")
    log.info("powering off")
    while True:
        try:
            syscalls.reboot(syscalls.RB_POWER_OFF)
        except OSError as exc:
            log.error(f"power off failed: {exc}")
        time.sleep(1)


def launcher_argv() -> list[str]:
    """This launcher again, as the image's ENTRYPOINT runs it: ``/init /usr/bin/dockerd ARGS``.

    The kernel passes the words after ``--`` as init's arguments: they take the place of
    ``docker run IMAGE ARGS`` (dockerd's arguments). The launcher's own switches come as
    environment twins (``DOCKER_LAUNCH_DEBUG=true`` on the kernel command line reaches
    init's environment: the kernel hands on every unknown ``NAME=VALUE`` without a dot).
    """
    interpreter = sys.orig_argv[: len(sys.orig_argv) - len(sys.argv)]  # python3 -IS
    return [sys.executable, *interpreter[1:], sys.argv[0], *ENTRYPOINT_ARGS, *sys.argv[1:]]


def fork_launcher(arguments: list[str]) -> int:
    """The launcher's ordinary path (it execs dockerd) in a forked child; the child's pid.

    A fork instead of a new interpreter: the child starts with every module PID 1 has
    already imported, so it skips the interpreter's start-up and those imports, which
    under TCG cost about as much as in PID 1 itself (the bench's phase "/init to PID 1's
    first line"). The child is not PID 1 and /proc is mounted, so ``main`` takes the
    container path, as it does for ``launcher_argv()``.
    """
    from docker_from_scratch.launcher import reaper

    sys.stdout.flush()  # nothing buffered may be written twice
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code: int = 1
    try:
        reaper.default_signals()
        from docker_from_scratch.launcher import cli

        cli.main(arguments)  # execs dockerd, or exits
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException as exc:  # a child must never return into PID 1's code
        log.error(f"launcher: {exc!r}")
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return 0  # never reached: os._exit above


def boot(argv: Sequence[str] | None = None) -> NoReturn:
    """PID 1's whole life on a bare kernel; ends in power-off, whatever happens."""
    import signal

    from docker_from_scratch.launcher import reaper

    options = BootOptions()
    try:
        os.environ.setdefault("PATH", DEFAULT_PATH)
        # PID 1 here stops everything itself on power-off (stop_everything): no stop waiter.
        os.environ.setdefault("DOCKER_LAUNCH_STOP_GRACE", "off")
        os.makedirs("/proc", exist_ok=True)
        from docker_from_scratch.launcher import syscalls

        syscalls.mount("proc", "/proc", "proc", syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC)
        log.info(f"{PID1_MESSAGE} (uptime {uptime():.1f} s)")
        with open("/proc/cmdline") as handle:
            options = parse_cmdline(handle.read())
        prepare_system(options)
        started = init_exec_uptime()
        log.info(f"bare kernel: system prepared {describe_time(started)}")
        log.info(f"{CLOCK_MESSAGE} realtime {time.time():.3f} s at uptime {uptime():.3f} s")
        requested: list[str] = []

        def note(signum: int) -> None:
            # SIGHUP, SIGUSR1 ... are forwarded too, but mean reload or dump to dockerd.
            if signum in (signal.SIGTERM, signal.SIGINT) and not requested:
                requested.append(signal.Signals(signum).name)
                log.info(f"{requested[0]}: stopping dockerd, then powering off")

        if argv is not None:
            _fork_runner(options, started)
            status = reaper.supervise(list(argv), dict(os.environ), on_signal=note)
        else:
            arguments = [*ENTRYPOINT_ARGS, *sys.argv[1:]]

            def start() -> int:
                """The launcher first, then the runner that watches it exec dockerd."""
                launcher = fork_launcher(arguments)
                _fork_runner(options, started, launcher)
                return launcher

            status = reaper.supervise(launcher_argv(), dict(os.environ), on_signal=note, start=start)
        if not requested:
            log.warn(f"dockerd exited on its own (status {status}): powering off")
    except BaseException as exc:
        from docker_from_scratch.launcher.errors import LaunchError

        message = exc.one_line() if isinstance(exc, LaunchError) else repr(exc)
        log.error(f"bare kernel: {message}")
    power_off(options.data_device)
