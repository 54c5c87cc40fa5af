"""The shared-library closure of ELF files, read from their headers with pyelftools.

Never ``ldd``: it would run the binaries (impossible for arm64, and wrong for another
suite's libc) and consult the build host's libraries. Instead each file's ``PT_INTERP``
(the dynamic loader) and ``DT_NEEDED`` entries are resolved inside the image's own
tree, like ld.so does when there is no ``/etc/ld.so.cache`` (the image has none):
``DT_RPATH`` (only when there is no ``DT_RUNPATH``), then ``DT_RUNPATH``, then the
default directories of Debian's multiarch glibc (``/usr/lib/<triplet>``, ``/usr/lib``;
the ``/lib`` ones are the same directories under merged /usr). ``$ORIGIN`` expands to
the directory of the object's resolved path. RPATH inheritance from the loading
object is not modelled: no package we take relies on it (the build fails loudly when
a name cannot be resolved, so this shows up at once).

Libraries that programs ``dlopen()`` have no DT_NEEDED entry, so :data:`DLOPENED` lists
the ones that matter, with the evidence for each.
"""

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from docker_from_scratch.builder.errors import BuildError
from docker_from_scratch.builder.tree import FileTree

ELF_MAGIC = b"\x7fELF"


@dataclass(frozen=True)
class ArchInfo:
    """What an architecture's binaries look like in Debian."""

    debian: str  # dpkg architecture
    triplet: str  # multiarch directory under /usr/lib
    machine: str  # pyelftools e_machine name
    loader: str  # PT_INTERP of the architecture's glibc programs
    oci_arch: str  # the image config's architecture (Go's GOARCH), as docker pull --platform names it
    oci_variant: str = ""  # the image config's variant


ARCHES = {
    "amd64": ArchInfo("amd64", "x86_64-linux-gnu", "EM_X86_64", "/lib64/ld-linux-x86-64.so.2", "amd64"),
    "arm64": ArchInfo("arm64", "aarch64-linux-gnu", "EM_AARCH64", "/lib/ld-linux-aarch64.so.1", "arm64", "v8"),
    # docker:dind's arm32v7: Debian's armhf is ARMv7 with hard float, linux/arm/v7.
    "armhf": ArchInfo("armhf", "arm-linux-gnueabihf", "EM_ARM", "/lib/ld-linux-armhf.so.3", "arm", "v7"),
}


def arch_info(arch: str) -> ArchInfo:
    try:
        return ARCHES[arch]
    except KeyError:
        raise BuildError(f"unsupported architecture {arch}", hint=f"use one of {', '.join(ARCHES)}") from None


def default_library_dirs(arch: str) -> tuple[str, ...]:
    """Where ld.so looks without a cache, merged into /usr (Debian multiarch glibc)."""
    return (f"/usr/lib/{arch_info(arch).triplet}", "/usr/lib")


# Libraries loaded with dlopen(): no DT_NEEDED entry names them. Keyed by the program
# (base name) that loads them; values are paths relative to /usr/lib/<triplet>.
#
# - iptables loads one extension per match/target from xtables/ (xtables_find_match
#   dlopens lib{xt,ipt,ip6t}_<name>.so). Docker's bridge driver uses: addrtype
#   (-m addrtype --dst-type LOCAL), conntrack (--ctstate RELATED,ESTABLISHED; "state"
#   is a link to it), tcp/udp/sctp (published ports, -p X --dport), the NAT targets
#   MASQUERADE/DNAT/SNAT/REDIRECT (links to libxt_NAT.so), standard (ACCEPT, DROP,
#   RETURN and jumps to DOCKER-* chains), icmp/icmp6 and set (match-set, in newer
#   engines' rules, see moby's integration/network/bridge/iptablesdoc), mark/MARK,
#   comment and multiport (overlay/ingress and user rules), physdev (bridge-nf rules).
#   The other ~130 extensions (2.6 MB) are never loaded by Docker.
# - kmod 34 (trixie) dlopens liblzma and libzstd to read .ko.xz/.ko.zst modules (the
#   names are string constants in /usr/bin/kmod, not DT_NEEDED); Debian's own kernels
#   ship .ko.xz and other distributions .ko.zst, and the launcher loads the HOST's
#   modules. kmod 30 (bookworm) links them directly.
# - glibc >= 2.34 has nss_files and nss_dns inside libc.so.6 (its dynamic symbols
#   include _nss_files_getpwnam_r), so getpwuid() for ssh and git needs no libnss_*.
_XT = "xtables/"
_XTABLES_USED = tuple(
    _XT + name
    for name in (
        "libxt_addrtype.so", "libxt_conntrack.so", "libxt_state.so",
        "libxt_tcp.so", "libxt_udp.so", "libxt_sctp.so", "libxt_standard.so",
        "libxt_NAT.so", "libxt_MASQUERADE.so", "libxt_DNAT.so", "libxt_SNAT.so",
        "libxt_REDIRECT.so", "libipt_icmp.so", "libip6t_icmp6.so", "libxt_set.so",
        "libxt_mark.so", "libxt_MARK.so", "libxt_comment.so", "libxt_multiport.so",
        "libxt_physdev.so",
    )
)  # fmt: skip
DLOPENED: dict[str, tuple[str, ...]] = {
    "xtables-nft-multi": _XTABLES_USED,
    "xtables-legacy-multi": _XTABLES_USED,
    "kmod": ("liblzma.so.5", "libzstd.so.1"),
}


@dataclass(frozen=True)
class ElfInfo:
    """The parts of an ELF header the closure needs."""

    machine: str
    interp: str | None
    needed: tuple[str, ...]
    runpath: tuple[str, ...]
    rpath: tuple[str, ...]


def is_elf(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == ELF_MAGIC
    except OSError:
        return False


def read_elf(stream: BinaryIO) -> ElfInfo:
    """Machine, interpreter, needed libraries and search paths of one ELF file."""
    try:
        elf = ELFFile(stream)
        interp = None
        needed: list[str] = []
        runpath: list[str] = []
        rpath: list[str] = []
        # Segments, not sections: the loader reads PT_INTERP and PT_DYNAMIC, and walking
        # the section table parses symbol hash tables for nothing (3x slower here).
        segment: Any  # pyelftools' stubs lack the per-type attributes
        for segment in elf.iter_segments():
            if segment["p_type"] == "PT_INTERP":
                interp = segment.get_interp_name()
            elif segment["p_type"] == "PT_DYNAMIC":
                tag: Any
                for tag in segment.iter_tags():
                    if tag.entry.d_tag == "DT_NEEDED":
                        needed.append(tag.needed)
                    elif tag.entry.d_tag == "DT_RUNPATH":
                        runpath += tag.runpath.split(":")
                    elif tag.entry.d_tag == "DT_RPATH":
                        rpath += tag.rpath.split(":")
        return ElfInfo(elf["e_machine"], interp, tuple(needed), tuple(runpath), tuple(rpath))
    except ELFError as exc:
        raise BuildError(f"cannot read ELF headers: {exc}") from exc


def _expand_origin(dirs: Iterable[str], origin: str) -> list[str]:
    return [d.replace("${ORIGIN}", origin).replace("$ORIGIN", origin) for d in dirs if d.strip()]


class Closure:
    """Files the image needs, each with the reason it is in (for reports and tests)."""

    def __init__(self, tree: FileTree, arch: str) -> None:
        self.tree = tree
        self.arch = arch_info(arch)
        self.reasons: dict[str, str] = {}
        self.components: dict[str, str] = {}
        self.absent_extras: set[str] = set()
        self._elf_cache: dict[str, ElfInfo | None] = {}
        self._scanned: set[str] = set()

    def info(self, path: str) -> ElfInfo | None:
        """ELF headers of the regular file ``path`` (after symlinks); None if not ELF."""
        real = self.tree.resolve(path)
        if real not in self._elf_cache:
            entry = self.tree.regular(real)
            result: ElfInfo | None = None
            if entry is not None:
                entry = self.tree.content_entry(entry)
                if entry.source is not None and is_elf(entry.source):
                    with open(entry.source, "rb") as handle:
                        result = read_elf(handle)
            self._elf_cache[real] = result
        return self._elf_cache[real]

    def add_path(self, path: str, reason: str, component: str) -> str:
        """Add ``path`` with every symlink on its way; return the resolved file's path."""
        chain = self.tree.link_chain(path)
        final = chain[-1]
        if self.tree.get(final) is None:
            raise BuildError(f"{path} ({reason}) is not in any unpacked package")
        entry = self.tree[final]
        if entry.kind == "hardlink":
            chain.append(self.tree.content_entry(entry).path)
        for link in chain:
            self.reasons.setdefault(link, reason)
            self.components.setdefault(link, component)
        return final

    def add_with_libraries(self, path: str, reason: str, component: str) -> None:
        """Add ``path`` and, when it is ELF, its loader and shared libraries (transitively).

        ``path`` (and its symlinks) count for ``component``; libraries and the loader
        for "libraries"; dlopened extras for the component of the program loading them.
        """
        pending = [(path, reason, component)]
        while pending:
            current, why, group = pending.pop()
            final = self.add_path(current, why, group)
            if final in self._scanned:
                continue
            self._scanned.add(final)
            info = self.info(final)
            if info is None:
                continue
            if info.machine != self.arch.machine:
                raise BuildError(
                    f"{final} is {info.machine}, not {self.arch.machine}",
                    hint="the package cache mixes architectures; delete it and rebuild",
                )
            if info.interp:
                pending.append((info.interp, f"loader of {final}", "libraries"))
            origin = posixpath.dirname(final)
            search = (
                _expand_origin(info.rpath if not info.runpath else (), origin)
                + _expand_origin(info.runpath, origin)
                + list(default_library_dirs(self.arch.debian))
            )
            for name in info.needed:
                lib = self.find_library(name, search, final)
                pending.append((lib, f"needed by {final}", "libraries"))
            for extra in DLOPENED.get(posixpath.basename(final), ()):
                lib = posixpath.join("/usr/lib", self.arch.triplet, extra)
                if self.tree.regular(lib) is None:
                    # e.g. an iptables release that names an extension differently
                    self.absent_extras.add(lib)
                    continue
                pending.append((lib, f"dlopened by {final}", group))

    def find_library(self, name: str, search: list[str], needed_by: str) -> str:
        if "/" in name:
            return name
        for directory in search:
            candidate = posixpath.join(directory, name)
            if self.tree.regular(candidate) is not None:
                return candidate
        raise BuildError(
            f"{needed_by} needs {name}, which no unpacked package provides",
            hint="add the package that ships it to the requirement table's packages",
        )


def elf_machine_of(path: Path) -> str | None:
    """e_machine of a file on disk, None when it is not ELF (for checks and tests)."""
    if not is_elf(path):
        return None
    with open(path, "rb") as handle:
        return str(ELFFile(handle)["e_machine"])
