"""Layout and default files: directories, links and /etc files dockerd and its tools expect.

The rule throughout: create what is missing, never overwrite what exists. Our image
carries its defaults in /usr/etc as well as /etc, so the export tarball dropped onto
another distribution (`ADD files.tar /`) brings only /usr/etc and leaves that
distribution's /etc alone; what it lacks is copied in here.
"""

from __future__ import annotations

import errno
import os
import stat

from docker_from_scratch.launcher import log
from docker_from_scratch.launcher.errors import LaunchError
from docker_from_scratch.requirements.layout import DATA_ROOT, GROUP, PASSWD
from docker_from_scratch.requirements.paths import under

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

DEFAULTS_SOURCE = "/usr/etc"
SBIN_DIRECTORIES = ("/usr/sbin", "/sbin")
# (directory, mode): /tmp sticky and world-writable; ssh refuses a group/world-readable ~/.ssh.
DIRECTORIES = (("/tmp", 0o1777), ("/root", 0o700), ("/root/.ssh", 0o700), ("/var", 0o755))
# Merged-/usr links for distributions that have neither (an /lib or /sbin present stays).
USR_LINKS = (("/lib", "usr/lib"), ("/sbin", "usr/sbin"))
HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
# Only reached where nobody provided a resolv.conf (docker bind-mounts its own, so:
# a bare kernel or a chroot). No upstream server is invented: queries stay on this machine,
# which is also what a resolver does without a nameserver line.
RESOLV_CONF = (
    "# written by dockerlaunch: no resolv.conf was provided; name lookups stay on this machine\nnameserver 127.0.0.1\n"
)
DEFAULT_FILES = (
    ("/etc/passwd", PASSWD),
    ("/etc/group", GROUP),
    ("/etc/hosts", HOSTS),
    ("/etc/resolv.conf", RESOLV_CONF),
)
# JSON files dockerd fails on when they are empty or hold one byte (a truncated write).
BROKEN_JSON_CANDIDATES = ("/etc/docker/key.json", "/etc/docker/daemon.json")
# Programs that may ship as X.dist (a package leaving the real name to the admin).
DIST_PROGRAMS = ("dockerd", "docker", "containerd", "runc", "iptables", "modprobe")


def _fail(action: str, path: str, exc: OSError) -> LaunchError:
    hint = "the file system is read-only: give the container a writable layer or volume" if (
        exc.errno == errno.EROFS) else f"check permissions on {os.path.dirname(path)}"  # fmt: skip
    return LaunchError.from_os(f"{action} {path}", exc, hint=hint)


def ensure_directory(path: str, mode: int) -> bool:
    """Create ``path`` (and parents) with exactly ``mode``; returns whether it was created."""
    if os.path.isdir(path):
        log.debug(f"{path}: exists, skipped")
        return False
    parent = os.path.dirname(path)
    if parent != path and not os.path.isdir(parent):
        ensure_directory(parent, 0o755)
    try:
        os.mkdir(path)
        os.chmod(path, mode)  # mkdir's mode is masked by umask; the sticky bit needs chmod
    except FileExistsError:
        raise LaunchError(f"{path} exists and is not a directory", hint=f"remove or rename {path}") from None
    except OSError as exc:
        raise _fail("create directory", path, exc) from exc
    log.debug(f"{path}: created (mode {mode:04o})")
    return True


def ensure_link(path: str, target: str) -> bool:
    """Symlink ``path`` -> ``target`` unless ``path`` exists in any form; returns if created."""
    if os.path.lexists(path):
        log.debug(f"{path}: exists, skipped")
        return False
    try:
        os.symlink(target, path)
    except OSError as exc:
        raise _fail("create link", path, exc) from exc
    log.debug(f"{path}: linked to {target}")
    return True


def ensure_file(path: str, content: str, mode: int = 0o644) -> bool:
    """Write ``content`` to ``path`` only when it does not exist; returns if written.

    O_EXCL, so a file appearing meanwhile (or a dangling link: a bind target) is kept.
    """
    if os.path.lexists(path):
        log.debug(f"{path}: exists, skipped")
        return False
    if not os.path.isdir(os.path.dirname(path)):
        ensure_directory(os.path.dirname(path), 0o755)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        log.debug(f"{path}: appeared meanwhile, skipped")
        return False
    except OSError as exc:
        raise _fail("create", path, exc) from exc
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
    os.chmod(path, mode)
    log.debug(f"{path}: created")
    return True


def make_layout(root: str = "/", data_root: str = DATA_ROOT) -> None:
    """/tmp, /root/.ssh, /var, the data root; /lib and /sbin links where both are missing."""
    for directory, mode in DIRECTORIES:
        ensure_directory(under(root, directory), mode)
    # dockerd itself makes its root 0710 (root:root); the same here avoids a window.
    ensure_directory(under(root, data_root), 0o710)
    for link, target in USR_LINKS:
        if os.path.isdir(under(root, "/" + target)):
            ensure_link(under(root, link), target)
        else:
            log.debug(f"{under(root, link)}: no /{target} to link to, skipped")


def copy_defaults(root: str = "/", source: str = DEFAULTS_SOURCE, target: str = "/etc") -> list[str]:
    """Copy the tree under ``source`` into ``target`` where entries are missing.

    Never replaces anything: an existing file, link or directory (and what is inside an
    existing directory) stays; directories are descended into so that missing files
    below an existing directory still arrive. Links are copied as links. Returns the
    paths created.
    """
    source_dir, target_dir = under(root, source), under(root, target)
    created: list[str] = []
    if not os.path.isdir(source_dir):
        log.debug(f"{source_dir}: no defaults to copy, skipped")
        return created
    for directory, subdirs, names in os.walk(source_dir):
        relative = os.path.relpath(directory, source_dir)
        destination = os.path.normpath(os.path.join(target_dir, relative))
        if os.path.lexists(destination) and not os.path.isdir(destination):
            log.debug(f"{destination}: exists and is no directory, defaults below it skipped")
            subdirs[:] = []
            continue
        if not os.path.isdir(destination):
            mode = stat.S_IMODE(os.stat(directory).st_mode)
            ensure_directory(destination, mode)
            created.append(destination)
        for name in sorted(names) + sorted(d for d in subdirs if os.path.islink(os.path.join(directory, d))):
            if _copy_entry(os.path.join(directory, name), os.path.join(destination, name)):
                created.append(os.path.join(destination, name))
        subdirs[:] = [d for d in subdirs if not os.path.islink(os.path.join(directory, d))]
    skipped = "" if created else " (all present)"
    log.debug(f"{target_dir}: {len(created)} defaults copied from {source_dir}{skipped}")
    return created


def _copy_entry(source: str, destination: str) -> bool:
    if os.path.lexists(destination):
        return False
    try:
        if os.path.islink(source):
            os.symlink(os.readlink(source), destination)
        else:
            import shutil  # only when a default is missing

            shutil.copy2(source, destination)
    except OSError as exc:
        raise _fail("copy default to", destination, exc) from exc
    log.debug(f"{destination}: copied from {source}")
    return True


def write_default_files(root: str = "/") -> list[str]:
    """/etc/passwd, /etc/group, /etc/hosts, /etc/resolv.conf where missing; returns created."""
    return [path for path, content in DEFAULT_FILES if ensure_file(under(root, path), content)]


def ensure_daemon_config(config_file: str | None, root: str = "/") -> bool:
    """An empty JSON object for ``--config-file`` when it names a missing or truncated file.

    dockerd exits on a missing --config-file and on an empty one ("EOF"); "{}" means
    "no settings", which is what an empty file meant to whoever made it.
    """
    if not config_file:
        return False
    path = under(root, config_file)
    if os.path.isfile(path) and os.path.getsize(path) <= 1:
        log.warn(f"{path}: {os.path.getsize(path)}-byte daemon config replaced by {{}}")
        try:
            with open(path, "w") as handle:
                handle.write("{}\n")
        except OSError as exc:
            raise _fail("rewrite", path, exc) from exc
        return True
    return ensure_file(path, "{}\n", 0o600)


def broken_json_files(root: str = "/", data_root: str = DATA_ROOT) -> list[str]:
    """JSON files dockerd cannot parse because they hold at most one byte."""
    candidates = [under(root, path) for path in BROKEN_JSON_CANDIDATES]
    image_dir = under(root, os.path.join(data_root, "image"))
    if os.path.isdir(image_dir):
        for driver in sorted(os.listdir(image_dir)):
            candidates.append(os.path.join(image_dir, driver, "repositories.json"))
    return [path for path in candidates if os.path.isfile(path) and os.path.getsize(path) <= 1]


def remove_broken_json(root: str = "/", data_root: str = DATA_ROOT) -> list[str]:
    """Delete zero/one-byte key.json, daemon.json and repositories.json (dockerd re-creates
    key.json and repositories.json; an empty daemon.json meant no settings)."""
    removed = broken_json_files(root, data_root)
    for path in removed:
        try:
            os.unlink(path)
        except OSError as exc:
            raise _fail("remove", path, exc) from exc
        log.warn(f"{path}: removed, an empty JSON file makes dockerd fail")
    return removed


def _pid_alive_as_docker(pidfile: str) -> bool:
    """Does ``pidfile`` name a running dockerd/containerd (not us)? Then it is no stale file.

    The docker CLI does not count: a CI job polling ``docker exec DIND docker version``
    while the container restarts runs it in the new PID namespace, where it can hold the
    number the old dockerd had; kept, the file then stops the new dockerd ("process with
    PID N is still running"), seen in tests/e2e/test_reliability_crash.py on forky."""
    try:
        with open(pidfile) as handle:
            pid = int(handle.read().strip() or "0")
        if pid <= 0 or pid == os.getpid():
            return False
        with open(f"/proc/{pid}/comm") as handle:  # our PID namespace, whatever the root
            return handle.read().strip() in ("dockerd", "containerd")
    except (OSError, ValueError):
        return False


# docker*.pid like docker:dind, and containerd*.pid: the containerd that dockerd manages
# writes /var/run/docker/containerd/containerd.pid. When /run outlives a crash (a volume
# shared with a sidecar), the stale pid may belong to another process in the new PID
# namespace; dockerd then logs "containerd is still running", waits 15 s for a socket
# nobody serves and exits (measured: tests/e2e/test_reliability_crash.py).
STALE_PIDFILE_PREFIXES = ("docker", "containerd")


def remove_stale_pidfiles(root: str = "/") -> list[str]:
    """Delete docker*.pid and containerd*.pid below /run and /var/run (case-insensitive).

    A restarted container keeps them and dockerd then refuses to start ("pid file found,
    ensure docker is not running"); one naming a live dockerd or containerd is kept.
    """
    removed: list[str] = []
    seen: set[str] = set()
    for top in ("/run", "/var/run"):
        base = under(root, top)
        if not os.path.isdir(base):
            continue
        for directory, _subdirs, names in os.walk(base):
            for name in names:
                path = os.path.join(directory, name)
                real = os.path.realpath(path)
                lowered = name.lower()
                if real in seen or not (lowered.startswith(STALE_PIDFILE_PREFIXES) and lowered.endswith(".pid")):
                    continue
                seen.add(real)
                if _pid_alive_as_docker(path):
                    log.debug(f"{path}: names a running daemon, kept")
                    continue
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    raise _fail("remove", path, exc) from exc
                removed.append(path)
                log.debug(f"{path}: stale pid file removed")
    return removed


def link_dist_fallbacks(programs: Iterable[str], search_path: str, root: str = "/") -> list[str]:
    """For each program missing from ``search_path`` but present as ``NAME.dist``: link it.

    Absolute names are checked where they are. Returns the links made.
    """
    made: list[str] = []
    directories = [d for d in search_path.split(":") if d]
    for program in programs:
        if os.path.isabs(program):
            candidates = [under(root, program)]
        else:
            candidates = [under(root, os.path.join(d, program)) for d in directories]
        if any(os.path.lexists(c) for c in candidates):
            continue
        for candidate in candidates:
            dist = candidate + ".dist"
            if os.path.exists(dist):
                ensure_link(candidate, os.path.basename(dist))
                made.append(candidate)
                break
    return made


def extend_path(path: str) -> str:
    """PATH with /usr/sbin and /sbin appended where missing (modprobe, iptables live there)."""
    parts = [p for p in path.split(":") if p]
    parts += [d for d in SBIN_DIRECTORIES if d not in parts]
    return ":".join(parts)


def prepare_layout(
    root: str = "/",
    *,
    data_root: str = DATA_ROOT,
    config_file: str | None = None,
    programs: Sequence[str] = DIST_PROGRAMS,
    search_path: str | None = None,
) -> None:
    """Step 4 as one call: layout, defaults, identity files, daemon config, stale files."""
    make_layout(root, data_root)
    copy_defaults(root)
    write_default_files(root)
    ensure_daemon_config(config_file, root)
    remove_broken_json(root, data_root)
    remove_stale_pidfiles(root)
    link_dist_fallbacks(programs, extend_path(search_path or os.environ.get("PATH", "")), root)
