"""dockerlaunch's main: parse, check, prepare the user space, then run dockerd.

A linear list of named steps. Argument and pre-flight errors come before the first
mount, so bad input changes nothing; each step is idempotent, so a restarted container
(or a second launcher in the same one) skips what is already right.
"""

from __future__ import annotations

import os
import sys

from docker_from_scratch.launcher import args, log, run
from docker_from_scratch.launcher.errors import LaunchError, describe_errno
from docker_from_scratch.requirements.layout import DOCKER_SOCKET
from docker_from_scratch.requirements.paths import find_program

TYPE_CHECKING = False  # typing costs ~8 ms to import; annotations need it only for mypy
if TYPE_CHECKING:
    from typing import NoReturn

    from docker_from_scratch.launcher.undo import Undo

# Where docker:dind keeps its tini for the same job; our image ships it from Debian's tini.
DOCKER_INIT = "docker-init"


def main(argv: list[str] | None = None) -> NoReturn:
    from docker_from_scratch.launcher import baremetal

    if baremetal.is_bare_kernel():  # PID 1 of a VM: prepare, run us again as a child, power off
        baremetal.boot()
    argv = sys.argv[1:] if argv is None else argv
    from docker_from_scratch.launcher import rootless

    if rootless.is_child(os.environ) and os.getuid() == 0:
        rootless.child(argv)  # re-run by rootlesskit in its namespaces: exec dockerd
    if argv[:1] == ["--health"]:
        # The image's HEALTHCHECK: exec form (the slim image has no shell), stdlib /_ping.
        from docker_from_scratch.launcher import api

        sys.exit(api.health_status(os.environ))
    try:
        if argv[:1] == ["--stop-nested"]:  # a Kubernetes preStop hook
            from docker_from_scratch.launcher import stopgrace

            sys.exit(stopgrace.pre_stop(argv[1:], os.environ))
        if argv[:1] == ["--stop-dockerd"]:  # the stop waiter's call when SIGTERM/SIGINT comes
            from docker_from_scratch.launcher import stopgrace

            sys.exit(stopgrace.stop_dockerd(argv[1:], os.environ))
        options = args.parse(argv, os.environ)
        log.set_debug(options.debug)
        log.debug(f"plan: {options.plan_description}")
        for warning in options.warnings:
            log.warn(warning)
        if options.command is not None:
            run_command(options.command)
        if os.getuid() != 0:
            # docker:dind's rule: not root means rootless (dockerd under rootlesskit)
            rootless.launch(options)
        launch(options)
    except LaunchError as exc:
        log.error(exc.one_line())
        sys.exit(exc.exit_status)
    except OSError as exc:
        # A system call no step turned into its own message: still one line, never a traceback.
        where = f" {exc.filename}" if exc.filename else ""
        log.error(f"unexpected failure{where}: {describe_errno(exc)} (hint: rerun with DOCKER_LAUNCH_DEBUG=true)")
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


def run_command(command: list[str]) -> NoReturn:
    """docker:dind's convention: a first argument that is no option names a program to run."""
    from docker_from_scratch.launcher import client, files

    env = dict(os.environ)
    env["PATH"] = files.extend_path(env.get("PATH", ""))
    # docker:dind hands every other command to docker-entrypoint.sh, which points the client
    # at the daemon: `docker run --link daemon:docker IMAGE docker ps` needs no DOCKER_HOST.
    env = client.for_client(env)
    log.debug(f"running {command[0]} instead of dockerd (DOCKER_HOST={env['DOCKER_HOST']})")
    try:
        os.execvpe(command[0], command, env)
    except FileNotFoundError:
        raise LaunchError(
            f"{command[0]}: command not found", hint="give a program on PATH, or dockerd options"
        ) from None
    except PermissionError:
        raise LaunchError(
            f"{command[0]}: not executable", hint=f"chmod +x {command[0]}, or name another program"
        ) from None


def launch(options: args.LaunchOptions) -> NoReturn:
    from docker_from_scratch.launcher import autoload, cgroups, files, iptables, kmod, limits, mounts, network
    from docker_from_scratch.launcher.preflight import check_requirements
    from docker_from_scratch.launcher.undo import Undo

    env = dict(os.environ)
    env["PATH"] = files.extend_path(env.get("PATH", ""))
    # As docker:dind sets it: tools in and under dockerd that detect containers behave.
    env["container"] = "docker"
    modules = autoload.mode()  # bad input is refused before anything is mounted
    with log.step("pre-flight checks"):
        check_requirements(options, modules_step=modules)
    with Undo() as undo:
        # The certificates need /proc (interface addresses) and nothing the steps make:
        # made in a child beside the steps, which hide their few milliseconds (bench/).
        # Before the API file systems when /proc is there and the directory lies outside
        # what that step mounts (a tmpfs on /run or /tmp would hide a certificate
        # directory made under it), else right after it.
        certdir = options.tls_certdir
        early = certdir is not None and mounts.usable_before_api_filesystems(certdir)
        certificates = start_certificates(options, undo) if early else None
        with log.step("API file systems"):
            mounts.mount_api_filesystems()
        if not early:
            certificates = start_certificates(options, undo)
        # Started here for the same reason, after the API file systems too (it needs /proc
        # and /run); its answer is taken in the iptables step.
        iptables_probe = iptables.start_probe(env) if options.iptables else None
        if iptables_probe is not None:  # a failed step stops and reaps it, not only the exit
            undo.callback(iptables_probe.stop)
        with log.step("cgroups"):
            cgroups.mount_cgroups()
        with log.step("mount propagation"):
            mounts.make_root_rshared()
        with log.step("layout and default files"):
            files.prepare_layout(
                data_root=options.data_root,
                config_file=options.config_file,
                programs=(options.dockerd, *files.DIST_PROGRAMS),
            )
        if modules == "off":
            log.info(f"kernel modules: skipped ({autoload.ENV}=off)")
        else:
            with log.step("kernel modules"):
                kmod.load_modules()
                autoload.autoload(setting=modules)  # no /lib/modules: ask the host kernel
        with log.step("networking"):
            network.enable_ip_forwarding()
            bridge_mtu = follow_outer_mtu(options)
            if options.bridge and options.bridge_address:
                undo.enter_context(network.bridge(options.bridge, options.bridge_address, bridge_mtu))
        if options.iptables:
            with log.step("iptables"):
                env["PATH"] = iptables.choose(env, early=iptables_probe)
        else:
            log.debug("iptables: skipped (--iptables=false)")
        with log.step("ulimits"):
            limits.raise_nofile(options.nofile)
        if certificates is not None:
            with log.step(f"TLS certificates in {options.tls_certdir} (waiting)"):
                certificates.join()
        undo.pop_all()  # everything is in place: keep it for dockerd
    start_dockerd(options, env)


def follow_outer_mtu(
    options: args.LaunchOptions, follow: tuple[str, int] | None = None, config_file: str | None = None
) -> int | None:
    """Add the MTU rule's dockerd arguments (launcher/mtu.py); the MTU for our own bridge.
    ``follow``: the link dockerd's traffic leaves by, when it is not the default route's;
    ``config_file``: the daemon.json dockerd reads, when not the rootful default."""
    from docker_from_scratch.launcher import mtu

    setting, config_file = options.mtu_setting, config_file or options.config_file
    decision, added, note = mtu.apply(setting, options.mtu, options.dockerd_args, config_file, follow=follow)
    log.debug(decision.describe() + (f"; {note}" if note else ""))
    if added:
        # Before a "--" (the end of dockerd's options), if the user gave one.
        at = options.dockerd_args.index("--") if "--" in options.dockerd_args else len(options.dockerd_args)
        options.dockerd_args[at:at] = added
        log.debug(f"mtu: dockerd gets {' '.join(added)}")
    return options.mtu if options.mtu is not None else decision.value


def start_certificates(options: args.LaunchOptions, undo: Undo | None = None) -> run.Forked | None:
    """Make or verify docker:dind's TLS certificates in a child process (None: TLS is off).

    A later step's failure still lets them finish writing before the launcher exits (no
    half-made files on the volume): ``undo``, when given, waits for the child.
    """
    certdir = options.tls_certdir
    if certdir is None:
        return None
    from docker_from_scratch.launcher import tls

    def make() -> None:
        outcome = tls.ensure_certificates(certdir, tls_san=options.tls_san)
        log.debug(f"TLS certificates in {certdir}: {outcome.describe()}")

    certificates = run.Forked(make)
    if undo is not None:
        undo.callback(finish_quietly, certificates)
    return certificates


def finish_quietly(background: run.Forked) -> None:
    """Wait for ``background``; what it raised is dropped (a step's failure is reported)."""
    try:
        background.join()
    except (LaunchError, OSError) as exc:
        log.debug(f"background step failed too: {exc}")


def want_reaper(options: args.LaunchOptions) -> bool:
    """Reap when asked, and by default as PID 1: dockerd as PID 1 leaves shim zombies."""
    if options.reap is None:
        return os.getpid() == 1
    return options.reap


def redirect_output(log_file: str) -> None:
    """Append dockerd's stdout and stderr to ``log_file``, like the seed's LogFile."""
    try:
        os.makedirs(os.path.dirname(log_file) or ".", exist_ok=True)
        fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    except OSError as exc:
        raise LaunchError.from_os(f"open log file {log_file}", exc, hint="give a writable path") from exc
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def start_dockerd(options: args.LaunchOptions, env: dict[str, str]) -> NoReturn:
    """exec dockerd; in reap mode under docker-init (small), else supervised by us.

        stop grace   reap   docker-init   waiter    dockerd runs under
        on           yes    found         found     docker-init -s, then the stop waiter
        on           no     any           found     the stop waiter (exec)
        on           yes    missing       any       the launcher (resident: reaps, stops nested first)
        on           any    any           missing   the launcher (resident: stops nested first)
        off          yes    found         any       docker-init -s (exec)
        off          yes    missing       any       the launcher (resident reaper)
        off          no     any           any       nothing: exec dockerd
    """
    argv = [options.dockerd, *options.dockerd_args]
    if options.log_file:
        log.debug(f"dockerd output appended to {options.log_file}")
        redirect_output(options.log_file)
    reap = want_reaper(options)
    init = find_program(DOCKER_INIT, env.get("PATH", "")) if reap else None
    if options.stop_grace is not None:
        from docker_from_scratch.launcher import stopgrace

        waiter = stopgrace.find_waiter(env.get("PATH", ""))
        if waiter is None or (reap and init is None):
            shells = " or ".join(stopgrace.WAITERS)
            log.debug(f"stop grace {options.stop_grace} s: no {DOCKER_INIT} or no {shells}: staying resident")
            supervise_with_stop_grace(argv, env, options.stop_grace, options.socket_path)
        socket = options.socket_path or DOCKER_SOCKET
        argv = stopgrace.waiter_argv(waiter, options.stop_grace, socket, argv)
        log.debug(f"stop grace {options.stop_grace} s: {waiter} waits for SIGTERM/SIGINT")
    if reap:
        if init is not None:
            # -s: be a subreaper when not PID 1 (--pid=host); no -g, so SIGTERM reaches
            # the stop waiter (or dockerd) alone and dockerd stops its containers before
            # containerd goes.
            argv = [init, "-s", "--", *argv]
            log.debug(f"reaping with {init}")
        else:
            from docker_from_scratch.launcher import reaper

            log.debug(f"no {DOCKER_INIT} on PATH: the launcher stays resident to reap")
            sys.exit(reaper.supervise(argv, env))
    # One line per log entry: the waiter's script (stopgrace.WAITER_SCRIPT) is named, not shown.
    log.debug("exec " + " ".join("<stop waiter script>" if "\n" in word else word for word in argv))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(argv[0], argv, env)


def supervise_with_stop_grace(argv: list[str], env: dict[str, str], grace: int, socket_path: str | None) -> NoReturn:
    """Stay resident; on SIGTERM/SIGINT stop nested containers within ``grace`` s, then forward."""
    import signal

    from docker_from_scratch.launcher import reaper, stopgrace

    socket = socket_path or DOCKER_SOCKET
    done: list[run.Background] = []

    def before_forward(signum: int) -> None:
        # As the waiter does: note the nested processes now, let the signal go on to
        # dockerd, and hold them to the deadline beside it (run.Background).
        if signum in (signal.SIGTERM, signal.SIGINT) and not done:
            processes = stopgrace.nested_processes(socket)

            def hold() -> None:
                stopgrace.hold_to_deadline(processes, grace)

            done.append(run.Background(hold))

    log.debug(f"stop grace {grace} s: the launcher stays resident and supervises {argv[0]}")
    sys.exit(reaper.supervise(argv, env, on_signal=before_forward))
