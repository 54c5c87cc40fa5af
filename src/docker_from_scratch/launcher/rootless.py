"""The rootless path: dockerd as an unprivileged user under rootlesskit (docker:dind-rootless).

The launcher takes it when it does not run as uid 0 (docker:dind's own entry point
decides the same way). Two processes share the work, like moby's
contrib/dockerd-rootless.sh:

    parent (uid 1000)   checks, certificates, then exec rootlesskit ... dockerlaunch
    child (uid 0 in     rootlesskit re-runs us with _DOCKERD_ROOTLESS_CHILD=1 in its user,
    rootlesskit's ns)   mount and network namespaces: drop the /run links, exec dockerd

Everything the rootful path does as root is skipped with a logged reason: the API file
systems and cgroups (docker mounted them; mounting needs root), kernel modules, the
bridge, iptables and IP forwarding (dockerd does them in rootlesskit's network
namespace). What cannot work stops before rootlesskit starts, one line each: the
requirement table's rootless rows (user namespaces, subordinate ids, newuidmap and
newgidmap, unshare under seccomp/AppArmor, /dev/net/tun) and a HOME or XDG_RUNTIME_DIR
the user cannot write.

docker:dind-rootless's knobs, read here:

    DOCKERD_ROOTLESS_ROOTLESSKIT_NET          slirp4netns (default), pasta, host, ...
    DOCKERD_ROOTLESS_ROOTLESSKIT_MTU          default: the MTU of the container's uplink
                                              (dockerd then gets the MTU rule's arguments
                                              for the tap device at that MTU)
    DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER  builtin (default), slirp4netns, implicit ...
    DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS        more rootlesskit flags, split on white space
"""

from __future__ import annotations

import os
import sys

from docker_from_scratch.launcher import log
from docker_from_scratch.launcher.errors import LaunchError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import NoReturn

    from docker_from_scratch.launcher.args import LaunchOptions

CHILD_MARK = "_DOCKERD_ROOTLESS_CHILD"  # dockerd-rootless.sh's name for the same switch
DEFAULT_NET = "slirp4netns"
DEFAULT_PORT_DRIVER = "builtin"
FALLBACK_MTU = 1500
# Native overlayfs in a user namespace arrived in Linux 5.13; before it, fuse-overlayfs.
NATIVE_OVERLAY_KERNEL = (5, 13)
# Left in rootlesskit's copy of /run as links to the container's files; dockerd and
# containerd must make their own (as dockerd-rootless.sh removes them).
PARENT_RUN_LINKS = ("/run/docker", "/run/containerd", "/run/xtables.lock")
# Network drivers that need a tap device and the program of the same name.
TAP_NETS = ("slirp4netns", "pasta")
TAP_DEVICE = "tap0"  # rootlesskit's name for it: the default route of dockerd's namespace


def is_child(env: Mapping[str, str]) -> bool:
    """Re-run by rootlesskit: our mark, and the state directory rootlesskit gives its child
    (the mark alone in a rootful start must not skip every step)."""
    return env.get(CHILD_MARK) == "1" and bool(env.get("ROOTLESSKIT_STATE_DIR"))


def child(argv: list[str]) -> NoReturn:
    """Inside rootlesskit: remove the parent's /run links, then exec dockerd (argv)."""
    for path in PARENT_RUN_LINKS:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.debug(f"rootless child: cannot remove {path}: {exc.strerror}")
    env = {k: v for k, v in os.environ.items() if k != CHILD_MARK}
    log.debug(f"rootless child: exec {' '.join(argv)}")
    sys.stderr.flush()
    os.execve(argv[0], argv, env)


# --- decisions from the environment --------------------------------------------------------


def outer_mtu(root: str = "/") -> int:
    """The MTU of the interface of the default route (what nested traffic leaves by)."""
    from docker_from_scratch.launcher import mtu  # the one reader of the uplink's MTU

    link = mtu.uplink(root)
    return link[1] if link is not None and link[1] is not None else FALLBACK_MTU


def network(env: Mapping[str, str], root: str = "/") -> tuple[str, int, str]:
    """(net driver, MTU, port driver) from the DOCKERD_ROOTLESS_ROOTLESSKIT_* variables."""
    net = env.get("DOCKERD_ROOTLESS_ROOTLESSKIT_NET") or DEFAULT_NET
    port_driver = env.get("DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER") or DEFAULT_PORT_DRIVER
    text = env.get("DOCKERD_ROOTLESS_ROOTLESSKIT_MTU", "")
    if not text:
        return net, outer_mtu(root), port_driver
    if not text.isdigit() or not 576 <= int(text) <= 65520:
        raise UsageError(
            f"DOCKERD_ROOTLESS_ROOTLESSKIT_MTU={text!r} is not an MTU",
            hint="give a whole number from 576 to 65520, or unset it for the uplink's MTU",
        )
    return net, int(text), port_driver


def user_published(flags: list[str]) -> set[str]:
    """The child side (``PORT/PROTO``) of each ``--publish``/``-p`` in the user's rootlesskit flags."""
    found = set()
    for index, flag in enumerate(flags):
        spec = None
        for name in ("--publish", "-p"):
            if flag.startswith(name + "="):
                spec = flag.removeprefix(name + "=")
            elif flag == name and index + 1 < len(flags):
                spec = flags[index + 1]
        if spec:
            port, _, proto = spec.rpartition(":")[2].partition("/")
            found.add(f"{port}/{proto or 'tcp'}")
    return found


def published_ports(dockerd_args: list[str], user_flags: list[str] | None = None) -> list[str]:
    """rootlesskit --publish specs for dockerd's own TCP hosts (2376): dockerd listens in
    rootlesskit's network namespace, so its API port must be forwarded out of it. A port
    the user publishes in DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS is left to the user's spec
    (rootlesskit would refuse to publish it twice)."""
    taken = user_published(user_flags or [])
    specs = []
    words = list(dockerd_args)
    for index, arg in enumerate(words):
        value = None
        if arg.startswith("--host="):
            value = arg.removeprefix("--host=")
        elif arg in ("-H", "--host") and index + 1 < len(words):
            value = words[index + 1]
        if value and value.startswith("tcp://"):
            address, _, port = value.removeprefix("tcp://").rpartition(":")
            if port.isdigit() and f"{port}/tcp" not in taken:
                specs.append(f"{address or '0.0.0.0'}:{port}:{port}/tcp")
    return specs


def storage_driver(options: LaunchOptions, release: str) -> list[str]:
    """dockerd arguments for the storage driver: none from 5.13 (native overlay2 in a user
    namespace), else fuse-overlayfs; the user's own -s always wins."""
    if options.storage_driver is not None:
        log.debug(f"storage driver: {options.storage_driver} (the user's)")
        return []
    if not storage_needs_fuse(release):
        log.info(f"storage driver: native overlay2 in the user namespace (kernel {release} >= 5.13)")
        return []
    log.info(f"storage driver: fuse-overlayfs (kernel {release} < 5.13 has no overlayfs in a user namespace)")
    return ["--storage-driver=fuse-overlayfs"]


# --- checks: everything that cannot work stops here, before rootlesskit -------------------


def check_directory(name: str, value: str | None) -> None:
    """$HOME and $XDG_RUNTIME_DIR must be directories the user can write."""
    uid = os.getuid()
    if not value:
        raise LaunchError(
            f"{name} is not set (rootless dockerd keeps its files there)",
            hint=f"set {name} to a directory uid {uid} can write",
        )
    if not os.path.isdir(value) or not os.access(value, os.W_OK | os.X_OK):
        why = "is not a directory" if not os.path.isdir(value) else f"is not writable by uid {uid}"
        raise LaunchError(
            f"{name} {value} {why}",
            hint=f"mount a directory uid {uid} owns there, e.g. --tmpfs {value}:uid={uid},gid={uid},mode=700",
        )


def check_rootless(net: str, release: str, env: Mapping[str, str]) -> None:
    """The table's rootless rows that this start needs, then HOME and XDG_RUNTIME_DIR."""
    from docker_from_scratch.launcher.preflight import Finding
    from docker_from_scratch.requirements import probes
    from docker_from_scratch.requirements.table import rootless_rows

    for row in rootless_rows():
        if row.name == "fuse-overlayfs" and not storage_needs_fuse(release):
            continue
        if row.name in ("slirp4netns", "/dev/net/tun") and net not in TAP_NETS:
            continue
        if row.name == "slirp4netns" and net != "slirp4netns":
            row = row.replace(target=net)  # pasta: its own program
        result = probes.run_probe(row)
        if not result.ok:
            finding = Finding(row, result)
            raise LaunchError(finding.message, hint=finding.hint)
        log.debug(f"rootless: {row.name}: {result.detail}")
    check_directory("HOME", env.get("HOME"))
    check_directory("XDG_RUNTIME_DIR", env.get("XDG_RUNTIME_DIR"))


def storage_needs_fuse(release: str) -> bool:
    """True before Linux 5.13 (``release`` as uname -r prints it)."""
    numbers = [int(p) if p.isdigit() else 0 for p in release.split("-")[0].split(".")[:2]]
    return tuple(numbers) < NATIVE_OVERLAY_KERNEL


# --- the parent ------------------------------------------------------------------------------


def rootlesskit_argv(
    options: LaunchOptions, env: Mapping[str, str], net: str, mtu: int, port_driver: str
) -> list[str]:
    """rootlesskit's command line, as dockerd-rootless.sh builds it, then us as the child."""
    runtime_dir = env.get("XDG_RUNTIME_DIR", "")
    argv = [
        "rootlesskit",
        f"--state-dir={runtime_dir}/dockerd-rootless",
        f"--net={net}",
        f"--mtu={mtu}",
    ]
    if net == "slirp4netns":
        argv += ["--slirp4netns-sandbox=auto", "--slirp4netns-seccomp=auto"]
    argv += [
        "--disable-host-loopback",
        f"--port-driver={port_driver}",
        "--copy-up=/etc",
        "--copy-up=/run",
        "--propagation=rslave",
    ]
    user_flags = env.get("DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS", "").split()
    argv += [f"--publish={spec}" for spec in published_ports(options.dockerd_args, user_flags)]
    argv += user_flags
    return argv


def dockerd_inputs(options: LaunchOptions, env: Mapping[str, str]) -> LaunchOptions:
    """``options`` with the data root and daemon config rootless dockerd reads: the user's
    own, else dockerd's rootless defaults ($XDG_DATA_HOME/docker, else
    ~/.local/share/docker; $XDG_CONFIG_HOME/docker/daemon.json, else ~/.config/...), never
    the rootful /var/lib/docker and /etc/docker."""
    import copy

    home = env.get("HOME", "")
    inputs = copy.copy(options)
    if not any(arg == "--data-root" or arg.startswith("--data-root=") for arg in options.dockerd_args):
        inputs.data_root = os.path.join(env.get("XDG_DATA_HOME") or f"{home}/.local/share", "docker")
    if options.config_file is None:
        inputs.config_file = os.path.join(env.get("XDG_CONFIG_HOME") or f"{home}/.config", "docker", "daemon.json")
    return inputs


def launch(options: LaunchOptions) -> NoReturn:
    """Check, make the certificates, then exec rootlesskit (under docker-init when reaping)."""
    from docker_from_scratch.launcher import cli, files, limits
    from docker_from_scratch.requirements.paths import find_program

    env = dict(os.environ)
    env["PATH"] = files.extend_path(env.get("PATH", ""))
    release = os.uname().release
    with log.step("rootless pre-flight checks"):
        if options.bridge and options.bridge_address:
            raise UsageError(
                f"-b {options.bridge} with --bip cannot be made rootless (creating a bridge needs root)",
                hint="drop -b: rootless dockerd gives docker0 the --bip address itself",
            )
        net, mtu, port_driver = network(env)
        check_rootless(net, release, env)
        from docker_from_scratch.launcher.preflight import check_can_be_created, check_inputs

        if options.tls_certdir is not None:
            check_can_be_created(
                options.tls_certdir, f"DOCKER_TLS_CERTDIR {options.tls_certdir}",
                f"mount a directory uid {os.getuid()} can write there (the image's /certs is)",
            )  # fmt: skip
        # The rootful path's input checks (daemon.json, data root, log file, DOCKER_TLS_SAN),
        # on the files rootless dockerd reads.
        inputs = dockerd_inputs(options, env)
        check_inputs(inputs)
        # There is no module step rootless, but a bad setting is refused here as rootful,
        # so one environment behaves the same in both images.
        from docker_from_scratch.launcher import autoload

        autoload.mode(dict(env))
    log.debug(
        "rootless: skipped (they need root, or dockerd does them in rootlesskit's namespaces): "
        "API file systems, cgroups, mount propagation, layout, kernel modules, "
        "IP forwarding, bridge, iptables"
    )
    log.info(f"rootless: rootlesskit --net={net} --mtu={mtu} --port-driver={port_driver}")
    extra = storage_driver(options, release)
    # dockerd's traffic leaves by the tap device at rootlesskit's --mtu: the MTU rule follows
    # it (other drivers, e.g. host, keep the container's own default route). The daemon.json
    # that counts is the one rootless dockerd reads.
    tap = (TAP_DEVICE, mtu) if net in TAP_NETS else None
    cli.follow_outer_mtu(options, follow=tap, config_file=inputs.config_file)
    with log.step("ulimits"):
        limits.raise_nofile(options.nofile)
    certificates = cli.start_certificates(options)
    if certificates is not None:
        with log.step(f"TLS certificates in {options.tls_certdir}"):
            certificates.join()
    if options.stop_grace is not None and options.stop_grace_asked:  # the default clean stop is rootful only
        log.warn("--stop-grace is ignored rootless: docker-init forwards SIGTERM to rootlesskit")
    kit = rootlesskit_argv(options, env, net, mtu, port_driver)
    found = find_program("rootlesskit", env["PATH"])
    # rootlesskit runs us again as its child: by the path we were started with, else from PATH
    launcher = sys.argv[0] if os.path.isabs(sys.argv[0]) else find_program("dockerlaunch", env["PATH"])
    if found is None or launcher is None:  # the checks found rootlesskit; only a race gets here
        raise LaunchError("rootlesskit or dockerlaunch vanished from PATH", hint="rerun with DOCKER_LAUNCH_DEBUG=true")
    argv = [found, *kit[1:], launcher, options.dockerd, *options.dockerd_args, *extra]
    env[CHILD_MARK] = "1"
    if options.log_file:
        cli.redirect_output(options.log_file)
    if cli.want_reaper(options):
        init = find_program(cli.DOCKER_INIT, env["PATH"])
        if init is not None:
            argv = [init, "-s", "--", *argv]
    log.debug(f"exec {' '.join(argv)}")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(argv[0], argv, env)
