"""nft or legacy iptables for dockerd, chosen as docker:dind chooses, and put first on PATH.

The image's /usr/sbin/iptables is iptables-nft. Legacy mode prepends a directory of
links (iptables, iptables-save, ... -> the *-legacy binaries) to dockerd's PATH, as
docker:dind does with /usr/local/sbin/.iptables-legacy. Decision, first match wins:

    DOCKER_IPTABLES_LEGACY set          non-empty: legacy, empty: nft (the user decides)
    legacy tables hold rules            legacy (the host or an earlier run uses it; two
                                        backends side by side break each other's NAT)
    `iptables -nL` works                nft
    after modprobe nf_tables: works     nft
    after modprobe ip_tables:
      `iptables-legacy -nL` works       legacy
    otherwise                           nft, with a warning (dockerd will say more)

"Hold rules" refines dind's test (any name in /proc/net/*_tables_names): loading
iptable_filter (the modules step may) or a bare `iptables-legacy -L` creates an empty
table, which says nothing about who uses legacy. iptables-legacy-save tells; when it is
missing, a listed table counts as in use, as in dind.
"""

from __future__ import annotations

import os

from docker_from_scratch.launcher import files, kmod, log, run
from docker_from_scratch.launcher.errors import LaunchError
from docker_from_scratch.requirements.modules import MODULES
from docker_from_scratch.requirements.paths import find_program, under
from docker_from_scratch.requirements.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

LEGACY_DIR = "/run/docker-from-scratch/iptables-legacy"
LEGACY_NAMES = ("iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore")
# (names file, the save command that shows its rules)
TABLE_NAME_FILES = (
    ("/proc/net/ip_tables_names", "iptables-legacy-save"),
    ("/proc/net/ip6_tables_names", "ip6tables-legacy-save"),
    ("/proc/net/arp_tables_names", None),
)
OVERRIDE = "DOCKER_IPTABLES_LEGACY"


class Choice(Record):
    """The decision: mode ("nft", "legacy" or "skipped"), why, and dockerd's PATH."""

    __slots__ = ("mode", "reason", "path")

    def __init__(self, mode: str, reason: str, path: str) -> None:
        self.mode = mode
        self.reason = reason
        self.path = path


def parse_table_names(text: str) -> list[str]:
    """/proc/net/ip_tables_names: one table name per line ("filter", "nat", ...)."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def save_has_rules(text: str) -> bool:
    """Does iptables-save output configure anything: a rule, a user chain, a DROP policy?"""
    for line in text.splitlines():
        if line.startswith("-A "):
            return True
        if line.startswith(":"):
            _name, _, rest = line[1:].partition(" ")
            policy = rest.split(" ", 1)[0]
            if policy != "ACCEPT":
                return True
    return False


def legacy_tables(root: str = "/") -> dict[str, list[str]]:
    """Listed legacy tables per /proc/net file (files absent without ip_tables: none)."""
    found = {}
    for names_file, _save in TABLE_NAME_FILES:
        try:
            with open(under(root, names_file)) as handle:
                names = parse_table_names(handle.read())
        except OSError:
            continue
        if names:
            found[names_file] = names
    return found


def legacy_in_use(root: str, env: Mapping[str, str]) -> str | None:
    """Why legacy iptables counts as in use, or None. No process when no table is listed."""
    tables = legacy_tables(root)
    for names_file, save in TABLE_NAME_FILES:
        if names_file not in tables:
            continue
        listed = ",".join(tables[names_file])
        binary = find_program(save, env.get("PATH", "")) if save else None
        if binary is None:
            return f"legacy tables {listed} exist ({names_file})"

        result = run.run([binary], env=env, check=False)
        if result.returncode != 0:
            return f"legacy tables {listed} exist and {save} failed"
        if save_has_rules(result.stdout):
            return f"legacy tables hold rules ({save})"
        log.debug(f"iptables: legacy tables {listed} listed but empty, not counted")
    return None


def _works(binary: str, env: Mapping[str, str]) -> bool:
    return _finished(_start_listing(binary, env))


def _start_listing(binary: str, env: Mapping[str, str]) -> run.Started | None:
    """``binary -nL`` started (None: not on PATH, or it cannot start)."""
    program = find_program(binary, env.get("PATH", ""))
    if program is None:
        return None
    try:
        return run.Started([program, "-nL"], env=env)
    except LaunchError:
        return None


def _finished(listing: run.Started | None) -> bool:
    """Did the listing exit 0?"""
    if listing is None:
        return False
    try:
        return listing.wait(check=False).returncode == 0
    except LaunchError:
        return False


def start_probe(env: Mapping[str, str] | None = None) -> run.Started | None:
    """`iptables -nL` started ahead of the iptables step, which takes its answer.

    The process (~9 ms, mostly nft's netlink round trips) then runs beside the steps in
    between instead of on the launcher's path. Only "it works" is taken from it: a
    failure is probed again in the step, after the kernel modules step. None when the
    user decides (DOCKER_IPTABLES_LEGACY), as no probe is needed then.
    """
    env = dict(os.environ if env is None else env)
    if OVERRIDE in env:
        return None
    env["PATH"] = files.extend_path(env.get("PATH", ""))
    return _start_listing("iptables", env)


def _load(module: str, root: str, env: Mapping[str, str]) -> None:
    feature = dict(MODULES).get(module, module)
    kmod.load_modules(root, [(module, feature)], search_path=env.get("PATH", ""))


def link_legacy(root: str, env: Mapping[str, str]) -> str:
    """The directory of iptables* -> *-legacy links (made or refreshed); returns its path."""
    directory = under(root, LEGACY_DIR)
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o755)
    for name in LEGACY_NAMES:
        legacy = name.replace("tables", "tables-legacy", 1)  # iptables-save -> iptables-legacy-save
        target = find_program(legacy, env.get("PATH", ""))
        link = os.path.join(directory, name)
        if target is None:
            if name == "iptables":
                raise LaunchError("legacy iptables chosen but iptables-legacy is not on PATH",
                                  hint=f"install iptables-legacy, or set {OVERRIDE}= (empty) for nft")  # fmt: skip
            log.debug(f"{link}: no {legacy} on PATH, skipped")
            continue
        if os.path.islink(link) and os.readlink(link) == target:
            continue
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(target, link)
        log.debug(f"{link}: linked to {target}")
    return directory


def decide(env: Mapping[str, str], root: str = "/", early: run.Started | None = None) -> tuple[str, str]:
    """(mode, reason) by the table in the module docstring; ``early`` is ``start_probe``'s."""
    early_works = _finished(early)  # reaped first, whichever row decides
    if OVERRIDE in env:
        if env[OVERRIDE]:
            _load("ip_tables", root, env)
            return "legacy", f"{OVERRIDE}={env[OVERRIDE]}"
        _load("nf_tables", root, env)
        return "nft", f"{OVERRIDE} is empty"
    reason = legacy_in_use(root, env)
    if reason:
        return "legacy", reason
    if early_works or _works("iptables", env):
        return "nft", "iptables -nL works"
    _load("nf_tables", root, env)
    if _works("iptables", env):
        return "nft", "iptables -nL works after loading nf_tables"
    _load("ip_tables", root, env)
    if _works("iptables-legacy", env):
        return "legacy", "only iptables-legacy works"
    log.warn("neither iptables-nft nor iptables-legacy works here: dockerd needs --iptables=false")
    return "nft", "nothing works; keeping the default"


def choose_mode(
    env: Mapping[str, str] | None = None, root: str = "/", *, enabled: bool = True, early: run.Started | None = None
) -> Choice:
    """Decide, set up legacy links when needed, log the choice; returns the Choice."""
    env = dict(os.environ if env is None else env)
    env["PATH"] = files.extend_path(env.get("PATH", ""))
    if not enabled:
        _finished(early)
        log.debug("iptables: skipped (--iptables=false)")
        return Choice("skipped", "--iptables=false", env["PATH"])
    mode, reason = decide(env, root, early)
    path = env["PATH"]
    if mode == "legacy":
        path = f"{link_legacy(root, env)}:{path}"
    # Like dind's `iptables --version`, users see which backend dockerd gets: the link
    # dockerd will run names it (xtables-nft-multi or xtables-legacy-multi), without
    # the cost of one more process.
    # ip6tables follows the same rule (the legacy links cover both): dockerd 27+ runs it
    # even without --ipv6, and a mix of backends between v4 and v6 breaks nothing visibly
    # until IPv6 NAT silently does not work.
    log.info(f"iptables: {mode} ({_backend('iptables', path)}; {reason}); ip6tables: {_backend('ip6tables', path)}")
    return Choice(mode, reason, path)


def _backend(name: str, path: str) -> str:
    program = find_program(name, path)
    return os.path.basename(os.path.realpath(program)) if program else f"no {name} on PATH"


def choose(
    env: Mapping[str, str] | None = None, root: str = "/", *, enabled: bool = True, early: run.Started | None = None
) -> str:
    """dockerd's PATH with the chosen iptables first (see ``choose_mode``)."""
    return choose_mode(env, root, enabled=enabled, early=early).path
