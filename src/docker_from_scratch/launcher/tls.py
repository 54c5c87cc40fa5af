"""TLS certificates for dockerd's port 2376, with docker:dind's layout and rules.

Layout under $DOCKER_TLS_CERTDIR (what CI clients mount, so it must match docker:dind):
``ca/``, ``server/`` and ``client/``, each with ``cert.pem`` and ``key.pem`` (``ca/`` has
no ``ca.pem``; ``server/`` and ``client/`` carry a copy of the CA as ``ca.pem``).

Decisions, in order (docker:dind's rules, facts from its ``dockerd-entrypoint.sh``):

    server/{ca,cert,key}.pem present, ca/key.pem absent  -> user manages the CA: only verify
    ca/key.pem present, or ca/cert.pem absent            -> we manage the CA:
        ca/key.pem and ca/cert.pem present and valid     -> keep both
        ca/key.pem present, cert missing, unreadable or
          expiring within 30 days                        -> issue a new CA cert, same key
        nothing                                          -> new CA key and cert
      then, every start: server and client certificates are issued again (addresses and
      names change between runs), existing server/client keys are kept
    ca/cert.pem alone                                    -> error: nothing can sign

docker:dind re-issues its CA certificate at every start; we keep a valid one (the CA
should not change under clients that cached it) and renew it from the same key only
within 30 days of expiry (or when it cannot be read), which keeps old copies valid for
verification. Everything is made and checked in memory first (keys read, leaves verified
against the CA), then written: bad input leaves the files as they were.

Tool: OpenSSL's libcrypto, called in-process (:mod:`libcrypto`). The image carries it
for ssh and kmod already; the openssl CLI used before added 1.1 MB, 2.2 MB in slim (with
the libssl.so.3 only it linked there), and a process start per certificate, and Debian's
python3-cryptography plus cffi would add 3.9 MB (17.4 MB for the PyPI wheels). Keys
are ECDSA P-256, which every Docker client (Go crypto/tls, Python's ssl) accepts;
docker:dind's three RSA-4096 keys take seconds.

Every private key is 0600 except ``client/key.pem``, 0644: CI job containers read it
from the shared volume under other user ids (docker:dind does the same).
"""

from __future__ import annotations

# _socket: the C module under ``socket``, for inet_pton/inet_ntop alone: ``socket``
# itself brings enum and selectors, ~6 ms of the launcher's start-up inside the image
# (-X importtime), for two functions it only re-exports.
import _socket
import os

from docker_from_scratch.launcher import log
from docker_from_scratch.launcher.errors import LaunchError, UsageError

# Imported with this module, before the launcher forks the certificates' child: ctypes
# (~6 ms here) is then imported once, by the parent, which needs it for its mounts too.
from docker_from_scratch.launcher.libcrypto import Crypto
from docker_from_scratch.requirements.paths import read_text, under
from docker_from_scratch.requirements.table import LIBCRYPTO

TYPE_CHECKING = False  # typing and dataclasses cost ~20 ms to import here: annotations only
if TYPE_CHECKING:
    from typing import Literal

    from docker_from_scratch.launcher.libcrypto import Certificate, Key

    CaState = Literal["created", "kept", "renewed", "user-managed"]

# Browsers and macOS reject server certificates valid for more than 825 days; docker:dind
# uses the same figure (it cites FiloSottile/mkcert#174).
VALID_DAYS = 825
# Renew a kept CA certificate when it expires within this many seconds.
CA_RENEW_BEFORE = 30 * 24 * 3600
CA_NAME = "docker-from-scratch CA"  # the subject's CN
SERVER_NAME = "docker-from-scratch server"
CLIENT_NAME = "docker-from-scratch client"
CA_EXTENSIONS = ("basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature")
# Names every dind server answers to: the CI service alias and loopback.
FIXED_DNS_NAMES = ("docker", "localhost")
_DNS_LAST = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_DNS_FIRST = _DNS_LAST | {"*"}
_DNS_INNER = _DNS_FIRST | {".", "-"}


def _is_dns_name(name: str) -> bool:
    """A name libcrypto takes as DNS:... in a subjectAltName: ``[A-Za-z0-9*_]`` first, ``[A-Za-z0-9_]`` last,
    ``.``, ``-`` and ``*`` also inside. Checked by hand: ``re`` costs ~8 ms to import
    inside the image, more than all of the certificates' own Python."""
    if not name or name[0] not in _DNS_FIRST:
        return False
    return len(name) == 1 or (name[-1] in _DNS_LAST and all(char in _DNS_INNER for char in name[1:-1]))


class Outcome:
    """What ensure_certificates did, for the log and the tests."""

    __slots__ = ("ca", "server_sans")

    def __init__(self, ca: CaState, server_sans: tuple[str, ...]) -> None:
        self.ca = ca
        self.server_sans = server_sans

    def __repr__(self) -> str:
        return f"Outcome(ca={self.ca!r}, server_sans={self.server_sans!r})"

    def describe(self) -> str:
        if self.ca == "user-managed":
            return "user-managed CA: server certificate verified, nothing issued"
        return f"CA {self.ca}; server and client certificates issued for {','.join(self.server_sans)}"


# --- names and addresses ---------------------------------------------------------------


def ipv4_addresses(fib_trie: str) -> list[str]:
    """Local IPv4 addresses from /proc/net/fib_trie text.

    Each address the host owns is a leaf whose next line reads ``/32 host LOCAL``. Read
    from /proc instead of a netlink dump (one text read, no socket) or the
    SIOCGIFCONF ioctl (which shows one IPv4 address per interface label and no IPv6).
    """
    found: list[str] = []
    leaf = None
    for line in fib_trie.splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == "|--":
            leaf = words[1]
        elif leaf is not None and words[:3] == ["/32", "host", "LOCAL"]:
            if leaf not in found:
                found.append(leaf)
        elif words and words[0] == "+--":
            leaf = None
    return found


def ipv6_addresses(if_inet6: str) -> list[str]:
    """IPv6 addresses from /proc/net/if_inet6 text (32 hex digits first on each line)."""
    found: list[str] = []
    for line in if_inet6.splitlines():
        words = line.split()
        if not words or len(words[0]) != 32:
            continue
        address = _socket.inet_ntop(_socket.AF_INET6, bytes.fromhex(words[0]))
        if address not in found:
            found.append(address)
    return found


def interface_addresses(root: str = "/") -> list[str]:
    """Every address of every interface in this network namespace (IPv4, then IPv6)."""
    proc_net = os.path.join(root, "proc/net")
    fib_trie = read_text(os.path.join(proc_net, "fib_trie"))
    if not fib_trie:
        log.warn(f"{proc_net}/fib_trie is unreadable: no IPv4 addresses in the server certificate")
    return ipv4_addresses(fib_trie) + ipv6_addresses(read_text(os.path.join(proc_net, "if_inet6")))


def host_names(root: str = "/", hostname: str | None = None) -> list[str]:
    """The names this container answers to: hostname, its short form, /etc/hostname,
    and the names /etc/hosts lists on the hostname's line (Docker writes the FQDN there
    with --domainname). No resolver call: the image has no resolver configuration."""
    node = hostname if hostname is not None else os.uname().nodename  # what gethostname() reads
    names = [node, node.split(".", 1)[0], read_text(os.path.join(root, "etc/hostname")).strip()]
    for line in read_text(os.path.join(root, "etc/hosts")).splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) > 1 and node in words[1:]:
            names.extend(words[1:])
    return [name for name in dict.fromkeys(names) if _is_dns_name(name)]


def parse_extra_sans(value: str) -> list[str]:
    """DOCKER_TLS_SAN entries (comma or space separated) as ``DNS:x`` / ``IP:y``.

    docker:dind hands the value to openssl as is; we check it first so a typo fails
    with one line naming the entry. A bare entry is an IP when it parses as one, else
    a DNS name (docker:dind requires the prefix; accepting it bare is a convenience).
    """
    entries: list[str] = []
    for entry in value.replace(",", " ").split():
        if not entry:
            continue
        kind, sep, rest = entry.partition(":")
        if sep and kind.upper() == "IP":
            entries.append(f"IP:{_ip(rest, entry)}")
        elif sep and kind.upper() == "DNS":
            if not _is_dns_name(rest):
                raise _bad_san(entry)
            entries.append(f"DNS:{rest}")
        elif (address := ip_address(entry)) is not None:
            entries.append(f"IP:{address}")
        elif _is_dns_name(entry):
            entries.append(f"DNS:{entry}")
        else:
            raise _bad_san(entry)
    return entries


def ip_address(text: str) -> str | None:
    """``text`` in canonical form when it is an IPv4 or IPv6 address, else None.

    socket.inet_pton/inet_ntop instead of ipaddress (~5 ms to import here).
    """
    for family in (_socket.AF_INET, _socket.AF_INET6):
        try:
            return _socket.inet_ntop(family, _socket.inet_pton(family, text))
        except (OSError, ValueError):
            continue
    return None


def _ip(text: str, entry: str) -> str:
    address = ip_address(text)
    if address is None:
        raise _bad_san(entry)
    return address


def _bad_san(entry: str) -> UsageError:
    return UsageError(
        f"DOCKER_TLS_SAN entry {entry!r} is neither DNS:name nor IP:address",
        hint="write entries like DOCKER_TLS_SAN='DNS:docker.example IP:192.0.2.10'",
    )


def server_sans(root: str = "/", tls_san: str = "", hostname: str | None = None) -> list[str]:
    """subjectAltName entries for the server: addresses, names, docker, localhost, extras."""
    entries = [f"IP:{address}" for address in interface_addresses(root)]
    entries += [f"DNS:{name}" for name in (*host_names(root, hostname), *FIXED_DNS_NAMES)]
    entries += parse_extra_sans(tls_san)
    return list(dict.fromkeys(entries))


# --- files ------------------------------------------------------------------------------


def _present(path: str) -> bool:
    """docker:dind's ``[ -s FILE ]``: exists and is not empty."""
    try:
        return os.path.getsize(path) > 0
    except OSError:
        return False


def _read(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read()


def _write(path: str, data: bytes, mode: int) -> None:
    """Write ``path`` atomically with ``mode`` (whatever the umask): readers sharing the
    volume see the old file or the new one, never half of one."""
    temporary = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".new")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        with open(descriptor, "wb") as file:
            os.fchmod(file.fileno(), mode)
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


class _Made:
    """A certificate made in memory, with its key; ``write`` puts both in ``directory``."""

    __slots__ = ("cert", "directory", "key", "key_mode", "new_key")

    def __init__(self, directory: str, cert: Certificate, key: Key, key_mode: int, new_key: bool) -> None:
        self.directory, self.cert, self.key = directory, cert, key
        self.key_mode, self.new_key = key_mode, new_key

    def write(self) -> None:
        """key.pem when new, then cert.pem: a stop between the two leaves a key that the
        next start reuses."""
        if self.new_key:
            _write(os.path.join(self.directory, "key.pem"), self.key.pem(), self.key_mode)
        _write(os.path.join(self.directory, "cert.pem"), self.cert.pem(), 0o644)


def _repair_mode(path: str, mode: int) -> None:
    """A kept key's mode, set only when it differs (chmod needs the file's owner even
    for no change): done while checking, so a foreign key fails before any write."""
    if os.stat(path).st_mode & 0o7777 != mode:
        os.chmod(path, mode)


def _make(
    crypto: Crypto,
    directory: str,
    *,
    name: str,
    extensions: tuple[str, ...],
    issuer: tuple[Certificate, Key] | None,
    key_mode: int,
    hint: str = "",
) -> _Made:
    """A certificate for ``directory``'s key.pem, kept as docker:dind keeps it, or a new
    key; nothing is written yet but a kept key's mode. ``hint``: the fix for a bad key."""
    key_path = os.path.join(directory, "key.pem")
    new_key = not _present(key_path)
    hint = hint or f"remove {directory} to have it made again"
    if new_key:
        key = crypto.new_key()
    else:
        key = crypto.read_key(_read(key_path), key_path, hint=hint)
        _repair_mode(key_path, key_mode)
    try:
        cert = crypto.issue(key, name, VALID_DAYS, extensions, issuer)
    except LaunchError as exc:
        raise LaunchError(f"{directory}/cert.pem cannot be issued: {exc.message}", hint=hint) from None
    return _Made(directory, cert, key, key_mode, new_key)


def _verify(crypto: Crypto, ca_file: str, cert_file: str, hint: str) -> None:
    """``cert_file`` must chain to ``ca_file``; else one line with libcrypto's reason."""
    reason = crypto.verify(crypto.read_certificate(_read(cert_file), cert_file), ca_file=ca_file)
    if reason is not None:
        raise LaunchError(f"{cert_file} does not verify against {ca_file}: {reason}", hint=hint)


def _anew(base: str) -> str:
    """The fix that gives a new CA. Removing ca/ alone would turn the next start
    user-managed: server/ holds ca.pem, cert.pem and key.pem after every start."""
    return f"remove {base}/ca and {base}/server to have a new CA made"


def _ensure_ca(crypto: Crypto, ca_dir: str, base: str) -> tuple[CaState, Certificate, Key, _Made | None]:
    """The CA: kept, or made in memory (new, or renewed from ca/key.pem) for the caller to write."""
    key_path, cert_path = os.path.join(ca_dir, "key.pem"), os.path.join(ca_dir, "cert.pem")
    anew = _anew(base)
    state: CaState = "renewed" if _present(key_path) else "created"
    if _present(key_path) and _present(cert_path):
        try:
            cert: Certificate | None = crypto.read_certificate(_read(cert_path), cert_path)
        except LaunchError as exc:  # as when it expires: docker:dind re-issues it from the key
            log.warn(f"{exc.message}: a new CA certificate will be issued from {key_path}")
            cert = None
        if cert is not None and cert.valid_for(CA_RENEW_BEFORE):
            key = crypto.read_key(_read(key_path), key_path, hint=anew)
            if not cert.matches(key):  # both kept from a volume, and not a pair
                raise LaunchError(
                    f"{ca_dir}/key.pem does not belong to {ca_dir}/cert.pem",
                    hint=f"ca/key.pem and ca/cert.pem must be a pair: {anew}",
                )
            _repair_mode(key_path, 0o600)
            return "kept", cert, key, None
    made = _make(crypto, ca_dir, name=CA_NAME, extensions=CA_EXTENSIONS, issuer=None, key_mode=0o600,
                 hint=anew)  # fmt: skip
    return state, made.cert, made.key, made


def _makedirs(*paths: str) -> None:
    """Make the directories that are missing, 0755 whatever the umask: CI job containers
    under other user ids must reach client/ (what exists is left as the user made it)."""
    for path in paths:
        missing = []
        while not os.path.isdir(path):
            missing.append(path)
            path = os.path.dirname(path)
        for directory in reversed(missing):
            os.mkdir(directory)
            os.chmod(directory, 0o755)


def ensure_certificates(
    certdir: str,
    *,
    tls_san: str = "",
    root: str = "/",
    libcrypto: str = LIBCRYPTO,
    hostname: str | None = None,
) -> Outcome:
    """Make or verify the certificates dockerd and its clients use, under ``certdir``.

    ``certdir`` is $DOCKER_TLS_CERTDIR (absolute, joined under ``root``), ``tls_san`` is
    $DOCKER_TLS_SAN, ``libcrypto`` the library to load. Raises UsageError for a bad
    DOCKER_TLS_SAN and LaunchError when a certificate cannot be made or does not verify.
    """
    base = under(root, certdir)
    ca_dir, server_dir, client_dir = (os.path.join(base, d) for d in ("ca", "server", "client"))
    ca_key, ca_cert = os.path.join(ca_dir, "key.pem"), os.path.join(ca_dir, "cert.pem")
    server_ca, server_cert, server_key = (os.path.join(server_dir, name) for name in ("ca.pem", "cert.pem", "key.pem"))
    try:
        crypto: Crypto | None = Crypto(libcrypto)
    except LaunchError as exc:
        crypto, unloadable = None, exc.message

    if _present(server_ca) and _present(server_cert) and _present(server_key) and not _present(ca_key):
        if crypto is None:
            log.warn(f"{unloadable}: the user-managed server certificate is not verified")
        else:
            _verify(
                crypto, server_ca, server_cert,
                hint="put the CA that signed server/cert.pem in server/ca.pem, or remove server/ "
                "to have certificates made",
            )  # fmt: skip
        return Outcome("user-managed", ())
    if crypto is None:
        raise LaunchError(
            f"{unloadable}, so no TLS certificates can be made for port 2376",
            hint="run with DOCKER_TLS_CERTDIR='' for port 2375 without TLS, or use an image that carries libcrypto",
        )
    if _present(ca_cert) and not _present(ca_key):
        raise LaunchError(
            f"{ca_cert} has no ca/key.pem beside it and server/ is incomplete: nothing can sign the server certificate",
            hint=f"add {ca_key}, or server/ca.pem, cert.pem and key.pem, or remove {ca_cert}",
        )
    sans = server_sans(root, tls_san, hostname)
    state, authority, authority_key, new_ca = _ensure_ca(crypto, ca_dir, base)
    issuer = (authority, authority_key)
    server = _make(
        crypto, server_dir,
        name=SERVER_NAME,
        extensions=("basicConstraints=critical,CA:FALSE", "extendedKeyUsage=serverAuth",
                    "subjectAltName=" + ",".join(sans)),
        issuer=issuer, key_mode=0o600,
    )  # fmt: skip
    client = _make(
        crypto, client_dir,
        name=CLIENT_NAME,
        extensions=("basicConstraints=critical,CA:FALSE", "extendedKeyUsage=clientAuth"),
        issuer=issuer, key_mode=0o644,
    )  # fmt: skip
    # Verified before anything is written: a kept ca/cert.pem that cannot sign (CA:FALSE,
    # no keyCertSign) would give dockerd a chain every client refuses.
    for leaf in (server, client):
        reason = crypto.verify(leaf.cert, authority=authority)
        if reason is not None:
            raise LaunchError(
                f"certificates signed by {ca_cert} do not verify against it: {reason}",
                hint=f"ca/cert.pem must be a CA certificate valid now (CA:TRUE, keyCertSign); or {_anew(base)}",
            )
    _makedirs(ca_dir, server_dir, client_dir)
    for made in (new_ca, server, client):
        if made is not None:
            made.write()
    ca_pem = authority.pem() if new_ca is not None else _read(ca_cert)
    for directory in (server_dir, client_dir):
        _write(os.path.join(directory, "ca.pem"), ca_pem, 0o644)  # what dockerd and clients load
    return Outcome(state, tuple(sans))
