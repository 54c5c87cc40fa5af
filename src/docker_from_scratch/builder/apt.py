"""Fetch Debian packages for any (suite, arch) without touching the build host's apt state.

Each (suite, arch) gets its own apt configuration under the user's cache directory
(``~/.cache/docker-from-scratch/apt/<suite>-<arch>/``): its own sources list, package
lists, archive cache and an EMPTY dpkg status file. ``APT_CONFIG`` points apt at that
configuration, and it also sets ``Dir::Etc::Main``/``Parts`` so the host's
``/etc/apt/apt.conf.d`` cannot leak in (apt reads ``APT_CONFIG`` first, then the parts
directory it names). Measured here: a trixie configuration on this bookworm host
updates in about 2 s and resolves the whole image's dependency closure in about 1 s.

apt verifies every index against ``/usr/share/keyrings/debian-archive-keyring.gpg``
(``signed-by``) and every downloaded .deb against the signed index's hashes.

The mirror is read from the host's own apt sources (deb822 ``*.sources`` or one-line
``sources.list``); suites named after the host's codename are mapped to the wanted
suite (``bookworm-security`` -> ``trixie-security``). ``mirror=`` overrides that.

Some mirrors serve a suite whose Release file is past its Valid-Until date (measured on
these machines: forky and sid, "Release file ... is expired"). apt refuses it, and so
does the builder, with one line naming ``--allow-expired-release``: that opt-in sets
apt's ``Acquire::Check-Valid-Until=false`` and nothing else (the signatures are still
checked), and the builder warns each time it is used.

Downloaded .debs are kept in one cache keyed by ``name_version_arch`` (apt's own file
name), shared by all suites, so a warm build downloads nothing.
"""

import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from docker_from_scratch.builder.errors import BuildError
from docker_from_scratch.builder.proc import run_tool

Progress = Callable[[str], None]

KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
# Package lists older than this are fetched again; a fresh list can change versions,
# so a warm rebuild within a day uses exactly the same inputs.
LISTS_MAX_AGE_S = 24 * 3600
# Suites without -updates and -security companions (unstable has neither).
SUITES_WITHOUT_COMPANIONS = ("sid",)
_WARNED_EXPIRED: set[Path] = set()
EXPIRED_RE = re.compile(r"Release file for (\S+) is expired \(invalid since ([^)]*)\)")


def expired_release(stderr: str) -> BuildError | None:
    """The one-line error for apt's "Release file ... is expired", None for any other failure."""
    match = EXPIRED_RE.search(stderr)
    if match is None:
        return None
    return BuildError(
        f"the mirror's Release file {match[1]} is expired (invalid since {match[2]}): "
        "apt refuses a suite whose Valid-Until date has passed",
        hint="pass --allow-expired-release to accept it (signatures are still checked), or use --mirror URI",
    )


def print_progress(message: str) -> None:
    sys.stderr.write(f"docker-from-scratch: {message}\n")
    sys.stderr.flush()


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/docker-from-scratch``, else ``~/.cache/docker-from-scratch``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "docker-from-scratch"


@dataclass(frozen=True)
class SourceEntry:
    """One apt source of the host: a URI and its suites (only ``deb`` types matter)."""

    uri: str
    suites: tuple[str, ...]


@dataclass(frozen=True, order=True)
class DebRef:
    """A package version for one architecture; ``arch`` is ``all`` for arch-independent."""

    name: str
    version: str
    arch: str

    @property
    def filename(self) -> str:
        """apt's own file name: the epoch colon is written as %3a."""
        return f"{self.name}_{self.version.replace(':', '%3a')}_{self.arch}.deb"


def parse_deb822_sources(text: str) -> list[SourceEntry]:
    """The ``deb`` stanzas of a deb822 ``.sources`` file."""
    entries = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = ""
        for line in stanza.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line[0] in " \t" and key:
                fields[key] += " " + line.strip()
                continue
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
        if fields.get("enabled", "yes").lower() == "no":
            continue
        if "deb" not in fields.get("types", "").split():
            continue
        for uri in fields.get("uris", "").split():
            entries.append(SourceEntry(uri, tuple(fields.get("suites", "").split())))
    return entries


def parse_one_line_sources(text: str) -> list[SourceEntry]:
    """The ``deb`` lines of a one-line ``sources.list``."""
    entries = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        line = re.sub(r"\[[^\]]*\]", "", line)
        words = line.split()
        if len(words) >= 3 and words[0] == "deb":
            entries.append(SourceEntry(words[1], (words[2],)))
    return entries


def host_sources(etc_apt: Path = Path("/etc/apt")) -> list[SourceEntry]:
    """Every ``deb`` source the host's apt uses."""
    entries: list[SourceEntry] = []
    main_list = etc_apt / "sources.list"
    if main_list.is_file():
        entries += parse_one_line_sources(main_list.read_text())
    parts = etc_apt / "sources.list.d"
    if parts.is_dir():
        for path in sorted(parts.iterdir()):
            if path.suffix == ".sources":
                entries += parse_deb822_sources(path.read_text())
            elif path.suffix == ".list":
                entries += parse_one_line_sources(path.read_text())
    return entries


def host_codename(os_release: Path = Path("/etc/os-release")) -> str:
    """VERSION_CODENAME of the build host ("" when it has none)."""
    if not os_release.is_file():
        return ""
    for line in os_release.read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return ""


def source_lines(
    suite: str,
    *,
    mirror: str | None = None,
    entries: list[SourceEntry] | None = None,
    codename: str | None = None,
    keyring: Path = KEYRING,
) -> list[str]:
    """One-line sources for ``suite``: the host's Debian sources with the suite swapped in.

    The host's suites ``<codename>``, ``<codename>-updates`` and ``<codename>-security``
    become ``<suite>``, ``<suite>-updates``, ``<suite>-security`` on the same URIs;
    sources for other codenames (third-party repositories) are left out.
    """
    options = f"[signed-by={keyring}]"
    if mirror:
        return [f"deb {options} {mirror} {suite} main"]
    entries = host_sources() if entries is None else entries
    codename = host_codename() if codename is None else codename
    lines: list[str] = []
    for entry in entries:
        for host_suite in entry.suites:
            if suite in SUITES_WITHOUT_COMPANIONS and host_suite != codename:
                continue
            if codename and (host_suite == codename or host_suite.startswith(codename + "-")):
                line = f"deb {options} {entry.uri} {suite}{host_suite[len(codename) :]} main"
                if line not in lines:
                    lines.append(line)
    if not lines:
        raise BuildError(
            "no Debian mirror found in the host's apt sources",
            hint="pass --mirror URI of a Debian mirror",
        )
    return lines


class AptRepo:
    """apt for one (suite, arch), configured entirely under the cache directory."""

    def __init__(
        self,
        suite: str,
        arch: str,
        *,
        cache_dir: Path | None = None,
        mirror: str | None = None,
        allow_expired: bool = False,
        progress: Progress = print_progress,
    ) -> None:
        self.suite = suite
        self.allow_expired = allow_expired
        self.arch = arch
        self.cache_dir = cache_dir or default_cache_dir()
        # Lists that apt took only because Valid-Until was waived live apart: a later run
        # without the opt-in must meet apt's refusal again, not reuse them silently.
        waived = "-valid-until-waived" if allow_expired else ""
        self.root = self.cache_dir / "apt" / f"{suite}-{arch}{waived}"
        self.debs_dir = self.cache_dir / "debs"
        self.mirror = mirror
        self.progress = progress
        self._configured = False

    def for_arch(self, arch: str) -> "AptRepo":
        """This repository for ARCH: itself when it is that architecture already.

        The image's Python is analysed under the build host's interpreter while the image
        may be for another architecture; one repository per (suite, arch) serves both.
        """
        if arch == self.arch:
            return self
        return AptRepo(
            self.suite,
            arch,
            cache_dir=self.cache_dir,
            mirror=self.mirror,
            allow_expired=self.allow_expired,
            progress=self.progress,
        )

    # --- configuration ------------------------------------------------------------
    @property
    def config_file(self) -> Path:
        return self.root / "apt.conf"

    def configure(self) -> None:
        """Write the sources list and apt.conf (idempotent); a changed list forces update."""
        if self._configured:
            return
        if not KEYRING.is_file():
            raise BuildError(f"{KEYRING} is missing", hint="apt-get install debian-archive-keyring")
        for sub in ("lists/partial", "cache/archives/partial", "etc/parts", "etc/preferences"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.debs_dir.mkdir(parents=True, exist_ok=True)
        status = self.root / "status"
        if not status.exists():
            status.write_text("")
        sources = "\n".join(source_lines(self.suite, mirror=self.mirror)) + "\n"
        sources_file = self.root / "etc" / "sources.list"
        if not sources_file.is_file() or sources_file.read_text() != sources:
            sources_file.write_text(sources)
            # Old lists belong to other sources: drop them so update fetches anew.
            for old in (self.root / "lists").glob("*_*"):
                old.unlink()
        r = self.root
        settings = {
            "Dir::Etc::Main": "/dev/null",
            "Dir::Etc::Parts": r / "etc/parts",
            "Dir::Etc::SourceList": sources_file,
            "Dir::Etc::SourceParts": r / "etc/parts",
            "Dir::Etc::Preferences": "/dev/null",
            "Dir::Etc::PreferencesParts": r / "etc/preferences",
            "Dir::State::Lists": r / "lists",
            "Dir::State::status": status,
            "Dir::Cache": r / "cache",
            "Dir::Log": r,
            "APT::Architecture": self.arch,
            "APT::Install-Recommends": "false",
            "APT::Install-Suggests": "false",
            "Acquire::Languages": "none",
            # The network here drops a connection now and then; apt retries with backoff.
            "Acquire::Retries": "5",
            # Files live under root's private home: the unprivileged _apt user cannot
            # write there, and the signature and hash checks do not depend on it.
            "APT::Sandbox::User": "root" if os.geteuid() == 0 else "",
            # Only the date check: InRelease signatures and .deb hashes are checked as ever.
            "Acquire::Check-Valid-Until": "false" if self.allow_expired else "",
        }
        text = "".join(f'{key} "{value}";\n' for key, value in settings.items() if value != "")
        text += f'APT::Architectures {{ "{self.arch}"; }};\n'
        self.config_file.write_text(text)
        self._configured = True
        if self.allow_expired and self.root not in _WARNED_EXPIRED:
            # Once per configuration and process: the image and the Python runtime share one.
            _WARNED_EXPIRED.add(self.root)
            self.progress(
                f"warning: --allow-expired-release: {self.suite}'s Release files are accepted past their "
                "Valid-Until date (signatures are still checked, but the mirror may be stale)"
            )

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["APT_CONFIG"] = os.fspath(self.config_file)
        env["LC_ALL"] = "C"
        env.pop("LANGUAGE", None)
        return env

    def _apt(self, tool: str, *args: str, cwd: Path | None = None) -> str:
        self.configure()
        return run_tool(
            [tool, *args],
            env=self._env(),
            cwd=cwd,
            hint=f"check the {self.suite}/{self.arch} apt configuration in {self.root}",
            explain=expired_release,
        )

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Serialise updates and downloads of concurrent builds (tests, benchmarks)."""
        self.configure()
        with open(self.root / "builder.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    # --- package lists ------------------------------------------------------------------
    def lists_age(self) -> float | None:
        """Seconds since the last successful update, None when never updated."""
        stamps = list((self.root / "lists").glob("*Release"))
        if not stamps:
            return None
        return time.time() - min(p.stat().st_mtime for p in stamps)

    def update(self, *, refresh: bool | None = None) -> None:
        """``apt-get update`` when forced, or (``refresh=None``) when lists are missing or old."""
        with self.locked():
            age = self.lists_age()
            if refresh is False and age is not None:
                return
            if refresh is None and age is not None and age < LISTS_MAX_AGE_S:
                return
            self._update()

    def _update(self) -> None:
        self.progress(f"apt: updating package lists for {self.suite}/{self.arch}")
        output = self._apt("apt-get", "update", "-q")
        # apt-get update exits 0 when some indexes failed ("W: Failed to fetch"); without
        # the suite's own Packages index nothing can be resolved, so say so here.
        if not list((self.root / "lists").glob(f"*_dists_{self.suite}_main_binary-{self.arch}_Packages*")):
            failed = [line for line in output.splitlines() if line.startswith(("W:", "E:", "Err:"))]
            raise BuildError(
                f"apt-get update fetched no {self.suite}/{self.arch} package index"
                + (f": {failed[-1]}" if failed else ""),
                hint="check the network and the mirror (--mirror URI)",
            )

    def available(self, names: Iterable[str]) -> dict[str, str]:
        """Candidate version of each name the suite has (names it lacks are left out)."""
        wanted = sorted(set(names))
        if not wanted:
            return {}
        self.update()
        found: dict[str, str] = {}
        current = ""
        for line in self._apt("apt-cache", "policy", *wanted).splitlines():
            if line and not line[0].isspace() and line.endswith(":"):
                current = line[:-1].split(":")[0]
            elif line.strip().startswith("Candidate:") and current:
                version = line.split(":", 1)[1].strip()
                if version != "(none)":
                    found[current] = version
        return found

    def show(self, names: Iterable[str]) -> dict[str, dict[str, str]]:
        """The candidate's control fields of each (available) package."""
        wanted = sorted(set(names))
        if not wanted:
            return {}
        self.update()
        result: dict[str, dict[str, str]] = {}
        text = self._apt("apt-cache", "show", "--no-all-versions", *wanted)
        for stanza in text.split("\n\n"):
            fields: dict[str, str] = {}
            key = ""
            for line in stanza.splitlines():
                if line[:1] in (" ", "\t") and key:
                    fields[key] += "\n" + line.strip()
                elif ":" in line:
                    key, _, value = line.partition(":")
                    fields[key] = value.strip()
            if "Package" in fields:
                result[fields["Package"]] = fields
        return result

    def resolve(self, names: Iterable[str]) -> list[DebRef]:
        """The candidate version of exactly these packages, no dependencies."""
        wanted = sorted(set(names))
        fields = self.show(wanted)
        missing = [name for name in wanted if name not in fields]
        if missing:
            raise BuildError(
                f"{self.suite}/{self.arch} has no package {', '.join(missing)}",
                hint="check the package names for this suite",
            )
        return [DebRef(name, fields[name]["Version"], fields[name]["Architecture"]) for name in wanted]

    def closure(self, names: Iterable[str]) -> list[DebRef]:
        """These packages and their Depends/Pre-Depends closure, as apt would install them.

        apt's own solver (``apt-get install -s`` against the empty status file) picks
        between alternatives exactly as an installation would; Recommends are off.
        """
        wanted = sorted(set(names))
        self.update()
        # The answer depends only on the names and the package lists: cache it (apt's
        # solver takes over a second here, twice per build).
        digest = hashlib.sha256("\0".join(wanted).encode())
        for index in sorted((self.root / "lists").glob("*_Packages*")):
            stat = index.stat()
            digest.update(f"{index.name}\0{stat.st_mtime_ns}\0{stat.st_size}\n".encode())
        cache_file = self.root / "closures" / f"{digest.hexdigest()[:32]}.json"
        if cache_file.is_file():
            return [DebRef(*row) for row in json.loads(cache_file.read_text())]
        text = self._apt("apt-get", "install", "-s", "-q", *wanted)
        refs = set()
        for line in text.splitlines():
            match = re.match(r"Inst (\S+) \((\S+) .*\[(\S+)\]\)", line)
            if match:
                refs.add(DebRef(match[1], match[2], match[3]))
        result = sorted(refs)
        cache_file.parent.mkdir(exist_ok=True)
        partial = cache_file.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps([[r.name, r.version, r.arch] for r in result]))
        os.replace(partial, cache_file)
        return result

    # --- downloads ----------------------------------------------------------------------
    def deb_path(self, ref: DebRef) -> Path:
        return self.debs_dir / ref.filename

    def download(self, refs: Iterable[DebRef]) -> dict[str, Path]:
        """Each package's .deb in the cache; only missing ones are downloaded (one apt call)."""
        refs = sorted(set(refs))
        if any(not self.deb_path(ref).is_file() for ref in refs):
            self.update()
            with self.locked():
                self._download([ref for ref in refs if not self.deb_path(ref).is_file()], len(refs))
        return {ref.name: self.deb_path(ref) for ref in refs}

    def _download(self, missing: list[DebRef], total: int) -> None:
        if missing:
            self.progress(f"apt: downloading {len(missing)} of {total} packages")
            with tempfile.TemporaryDirectory(dir=self.debs_dir, prefix=".download-") as tmp:
                self.configure()
                run_tool(
                    [
                        "apt-get",
                        "download",
                        "-q",
                        *(
                            f"{r.name}:{r.arch}={r.version}" if r.arch != "all" else f"{r.name}={r.version}"
                            for r in missing
                        ),
                    ],
                    env=self._env(),
                    cwd=Path(tmp),
                    hint="check the network and the mirror in the host's apt sources",
                    on_line=lambda line: self.progress(f"apt: {line}") if line.startswith("Get:") else None,
                )
                for ref in missing:
                    got = Path(tmp) / ref.filename
                    if not got.is_file():
                        raise BuildError(f"apt-get download did not produce {ref.filename}")
                    shutil.move(got, self.deb_path(ref))
