"""TLS certificates for dockerd's port 2376, with docker:dind's layout and rules.

Layout under $DOCKER_TLS_CERTDIR (what CI clients mount, so it must match docker:dind):
``ca/``, ``server/`` and ``client/``, each with ``cert.pem`` and ``key.pem`` (``ca/`` has
no ``ca.pem``; ``server/`` and ``client/`` carry a copy of the CA as ``ca.pem``).

Decisions, in order (docker:dind's rules, facts from its ``dockerd-entrypoint.sh``):

    server/{ca,cert,key}.pem present, ca/key.pem absent  -> user manages the CA: only verify
    ca/key.pem present, or ca/cert.pem absent            -> we manage the CA:
        ca/key.pem and ca/cert.pem present and valid     -> keep both
        ca/key.pem present, cert missing or expiring     -> issue a new CA cert, same key
        nothing                                          -> new CA key and cert
      then, every start: server and client certificates are issued again (addresses and
      names change between runs), existing server/client keys are kept
    ca/cert.pem alone                                    -> error: nothing can sign

docker:dind re-issues its CA certificate at every start; we keep a valid one (the CA
should not change under clients that cached it) and renew it from the same key only
within 30 days of expiry, which keeps old copies valid for verification.

Tool: the OpenSSL command line, run through ``run.run``. The image carries libcrypto
already (git, ssh, kmod); the CLI adds 1.1 MB (trixie's /usr/bin/openssl) plus 1.1 MB
of libssl.so.3 where nothing else brings it, against 3.9 MB for Debian's
python3-cryptography plus cffi (17.4 MB for the PyPI wheels). Keys are ECDSA P-256:
about 10 ms per certificate here, and every Docker client (Go crypto/tls, Python's
ssl) accepts them; docker:dind's three RSA-4096 keys take seconds.

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
from docker_from_scratch.launcher.run import Forked, run
from docker_from_scratch.requirements.paths import find_program, read_text, under

TYPE_CHECKING = False  # typing and dataclasses cost ~20 ms to import here: annotations only
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Literal

    CaState = Literal["created", "kept", "renewed", "user-managed"]

# Browsers and macOS reject server certificates valid for more than 825 days; docker:dind
# uses the same figure (it cites FiloSottile/mkcert#174).
VALID_DAYS = 825
# Renew a kept CA certificate when it expires within this many seconds.
CA_RENEW_BEFORE = 30 * 24 * 3600
CA_SUBJECT = "/CN=docker-from-scratch CA"
SERVER_SUBJECT = "/CN=docker-from-scratch server"
CLIENT_SUBJECT = "/CN=docker-from-scratch client"
NEW_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-noenc")
# Names every dind server answers to: the CI service alias and loopback.
FIXED_DNS_NAMES = ("docker", "localhost")
_DNS_LAST = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_DNS_FIRST = _DNS_LAST | {"*"}
_DNS_INNER = _DNS_FIRST | {".", "-"}


def _is_dns_name(name: str) -> bool:
    """A name openssl takes as DNS:...: ``[A-Za-z0-9*_]`` first, ``[A-Za-z0-9_]`` last,
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


def _tool_env(env: Mapping[str, str] | None) -> dict[str, str]:
    """PATH, and nothing from the system's TLS set-up.

    OPENSSL_CONF=/dev/null: every extension is on the command line, so the output must
    not depend on whichever openssl.cnf the image happens to carry. SSL_CERT_FILE and
    SSL_CERT_DIR=/dev/null: without them ``openssl verify -CAfile X`` also trusts the
    system bundle (a publicly signed server cert would pass against any server/ca.pem),
    and ``openssl x509`` parses the whole bundle first: 25 ms instead of 5 ms here.
    """
    source = os.environ if env is None else env
    return {
        "PATH": source.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "OPENSSL_CONF": "/dev/null",
        "SSL_CERT_FILE": "/dev/null",
        "SSL_CERT_DIR": "/dev/null",
    }


class _Tool:
    """The openssl program and the environment it runs with."""

    __slots__ = ("env", "program")

    def __init__(self, program: str, env: dict[str, str]) -> None:
        self.program = program
        self.env = env

    def __call__(self, *args: str) -> str:
        return run((self.program, *args), env=self.env).stdout


def _issue(
    tool: _Tool,
    directory: str,
    *,
    subject: str,
    extensions: tuple[str, ...],
    ca_dir: str | None,
    key_mode: int,
) -> None:
    """Write ``directory``/cert.pem (and key.pem if missing), replacing files atomically.

    Readers sharing the volume see the old file or the new one, never half of one.
    """
    key = os.path.join(directory, "key.pem")
    new_cert = os.path.join(directory, ".cert.pem.new")
    args = ["req", "-x509", "-new", "-subj", subject, "-days", str(VALID_DAYS), "-out", new_cert]
    new_key = None
    if _present(key):
        args += ["-key", key]
    else:
        new_key = os.path.join(directory, ".key.pem.new")
        args += [*NEW_KEY, "-keyout", new_key]
    if ca_dir is not None:
        args += ["-CA", os.path.join(ca_dir, "cert.pem"), "-CAkey", os.path.join(ca_dir, "key.pem")]
    for extension in extensions:
        args += ["-addext", extension]
    try:
        try:
            tool(*args)
        except LaunchError as exc:
            raise _issue_error(directory, ca_dir, exc.message) from exc
        if new_key is not None:
            os.chmod(new_key, key_mode)
            os.replace(new_key, key)
        os.replace(new_cert, os.path.join(directory, "cert.pem"))
    finally:
        for leftover in (new_cert, new_key):
            if leftover is not None and os.path.exists(leftover):
                os.unlink(leftover)
    os.chmod(key, key_mode)


def _issue_error(directory: str, ca_dir: str | None, message: str) -> LaunchError:
    """One short line for a failed ``openssl req`` (run()'s message repeats the argv)."""
    reason = message.rsplit(": ", 1)[-1] if ": " in message else message
    if ca_dir is not None and "key values mismatch" in message:
        return LaunchError(
            f"{ca_dir}/key.pem does not belong to {ca_dir}/cert.pem",
            hint="ca/key.pem and ca/cert.pem must be a pair: remove both to have a new CA made",
        )
    return LaunchError(
        f"openssl could not issue {directory}/cert.pem: {reason}",
        hint=f"remove {directory} to have it made again",
    )


def _copy_ca(ca_cert: str, directory: str) -> None:
    """Put the CA certificate next to a leaf as ca.pem (what dockerd and clients load)."""
    with open(ca_cert, "rb") as source:
        data = source.read()
    temporary = os.path.join(directory, ".ca.pem.new")
    with open(temporary, "wb") as target:
        target.write(data)
    os.chmod(temporary, 0o644)
    os.replace(temporary, os.path.join(directory, "ca.pem"))


def _verify(tool: _Tool, ca_file: str, certs: tuple[str, ...], hint: str) -> None:
    """``openssl verify``; on failure one line with openssl's reason (its "error N at
    depth D lookup: ..." line, not the last line, which only repeats the file name)."""
    result = run((tool.program, "verify", "-CAfile", ca_file, *certs), env=tool.env, check=False)
    if result.returncode == 0:
        return
    lines = (result.stderr or "").splitlines() + (result.stdout or "").splitlines()
    reasons = [line.split("lookup: ", 1)[-1] for line in lines if " depth lookup: " in line]
    reason = reasons[0] if reasons else (lines[0] if lines else "no output from openssl verify")
    verb = "does" if len(certs) == 1 else "do"
    raise LaunchError(f"{' and '.join(certs)} {verb} not verify against {ca_file}: {reason}", hint=hint)


def _ensure_ca(tool: _Tool, ca_dir: str) -> CaState:
    key, cert = os.path.join(ca_dir, "key.pem"), os.path.join(ca_dir, "cert.pem")
    ca_extensions = (
        "basicConstraints=critical,CA:TRUE",
        "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
    )
    if _present(key) and _present(cert):
        still_valid = run(
            (tool.program, "x509", "-checkend", str(CA_RENEW_BEFORE), "-noout", "-in", cert),
            env=tool.env,
            check=False,
        )
        if still_valid.returncode == 0:
            os.chmod(key, 0o600)
            return "kept"
        state: CaState = "renewed"
    else:
        state = "renewed" if _present(key) else "created"
    _issue(tool, ca_dir, subject=CA_SUBJECT, extensions=ca_extensions, ca_dir=None, key_mode=0o600)
    return state


def _in_parallel(*jobs: Callable[[], None]) -> None:
    """Run ``jobs`` side by side, each in a child process (each waits on its own openssl);
    re-raise the first failure."""
    running = [Forked(job) for job in jobs]
    failures = []
    for job in running:  # every child waited for, so none outlives a failure of another
        try:
            job.join()
        except (LaunchError, OSError) as exc:
            failures.append(exc)
    if failures:
        raise failures[0]


def _makedirs(*paths: str) -> None:
    for path in paths:
        os.makedirs(path, mode=0o755, exist_ok=True)


def ensure_certificates(
    certdir: str,
    *,
    tls_san: str = "",
    root: str = "/",
    openssl: str = "openssl",
    env: Mapping[str, str] | None = None,
    hostname: str | None = None,
) -> Outcome:
    """Make or verify the certificates dockerd and its clients use, under ``certdir``.

    ``certdir`` is $DOCKER_TLS_CERTDIR (absolute, joined under ``root``), ``tls_san`` is
    $DOCKER_TLS_SAN, ``openssl`` the CLI to run, ``env`` supplies its PATH. Raises
    UsageError for a bad DOCKER_TLS_SAN and LaunchError when a certificate cannot be
    made or does not verify.
    """
    base = under(root, certdir)
    ca_dir, server_dir, client_dir = (os.path.join(base, d) for d in ("ca", "server", "client"))
    ca_key, ca_cert = os.path.join(ca_dir, "key.pem"), os.path.join(ca_dir, "cert.pem")
    server_ca, server_cert, server_key = (os.path.join(server_dir, name) for name in ("ca.pem", "cert.pem", "key.pem"))
    tool_env = _tool_env(env)
    found = find_program(openssl, tool_env["PATH"])

    if _present(server_ca) and _present(server_cert) and _present(server_key) and not _present(ca_key):
        if found is None:
            log.warn(f"{openssl} is missing: the user-managed server certificate is not verified")
        else:
            _verify(
                _Tool(found, tool_env), server_ca, (server_cert,),
                hint="put the CA that signed server/cert.pem in server/ca.pem, or remove server/ "
                "to have certificates made",
            )  # fmt: skip
        return Outcome("user-managed", ())
    if found is None:
        raise LaunchError(
            f"{openssl} is missing, so no TLS certificates can be made for port 2376",
            hint="run with DOCKER_TLS_CERTDIR='' for port 2375 without TLS, or use an image that carries openssl",
        )
    if _present(ca_cert) and not _present(ca_key):
        raise LaunchError(
            f"{ca_cert} has no ca/key.pem beside it and server/ is incomplete: nothing can sign the server certificate",
            hint=f"add {ca_key}, or server/ca.pem, cert.pem and key.pem, or remove {ca_cert}",
        )
    tool = _Tool(found, tool_env)
    sans = server_sans(root, tls_san, hostname)
    _makedirs(ca_dir, server_dir, client_dir)
    state = _ensure_ca(tool, ca_dir)
    # The two leaves do not depend on each other: one openssl run each, side by side,
    # halves the wait at every start (each run is ~10-20 ms, mostly process start-up).
    _in_parallel(
        lambda: _issue(
            tool, server_dir,
            subject=SERVER_SUBJECT,
            extensions=("basicConstraints=critical,CA:FALSE", "extendedKeyUsage=serverAuth",
                        "subjectAltName=" + ",".join(sans)),
            ca_dir=ca_dir, key_mode=0o600,
        ),
        lambda: _issue(
            tool, client_dir,
            subject=CLIENT_SUBJECT,
            extensions=("basicConstraints=critical,CA:FALSE", "extendedKeyUsage=clientAuth"),
            ca_dir=ca_dir, key_mode=0o644,
        ),
    )  # fmt: skip
    for directory in (server_dir, client_dir):
        _copy_ca(ca_cert, directory)
    if state == "kept":
        # Catches a ca/key.pem that does not belong to ca/cert.pem (both kept from a
        # volume); a CA made or renewed just now signed the leaves itself.
        _verify(
            tool, ca_cert, (server_cert, os.path.join(client_dir, "cert.pem")),
            hint="ca/key.pem and ca/cert.pem must be a pair: remove both to have a new CA made",
        )  # fmt: skip
    return Outcome(state, tuple(sans))
