"""Certificates made through the real libcrypto, checked with the openssl CLI: layout, modes,
restarts, user CAs, handshakes."""

import os
import pty
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from docker_from_scratch.launcher import tls
from docker_from_scratch.launcher.errors import LaunchError

pytestmark = pytest.mark.integration

LEAVES = ("server", "client")


def openssl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "OPENSSL_CONF": "/dev/null"}
    return subprocess.run(["openssl", *args], capture_output=True, text=True, env=env, check=check)


def make(certdir: Path, tls_san: str = "") -> tls.Outcome:
    return tls.ensure_certificates(os.fspath(certdir), tls_san=tls_san)


def read(path: Path) -> bytes:
    return path.read_bytes()


def public_key(path: Path) -> str:
    """The public key of a certificate or private key file, as PEM text."""
    if path.name == "key.pem":
        return openssl("pkey", "-in", os.fspath(path), "-pubout").stdout
    return openssl("x509", "-in", os.fspath(path), "-noout", "-pubkey").stdout


def extension(cert: Path, name: str) -> str:
    return openssl("x509", "-in", os.fspath(cert), "-noout", "-ext", name).stdout


def other_ca(
    directory: Path, days: str = "365", extensions: tuple[str, ...] = (), issuer: tuple[Path, Path] | None = None
) -> tuple[Path, Path]:
    """A second, unrelated CA (key and certificate) made straight with openssl: self-signed,
    or an intermediate signed by ``issuer`` (its key and cert); ``extensions`` added."""
    directory.mkdir(parents=True, exist_ok=True)
    key, cert = directory / "key.pem", directory / "cert.pem"
    args = [
        "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-noenc",
        "-keyout", os.fspath(key), "-out", os.fspath(cert), "-subj", f"/CN={directory.name} CA",
        "-days", days, "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,digitalSignature",
    ]  # fmt: skip
    if issuer is not None:
        args += ["-CA", os.fspath(issuer[1]), "-CAkey", os.fspath(issuer[0])]
    for extension in extensions:
        args += ["-addext", extension]
    openssl(*args)
    return key, cert


def leaf_from(ca_key: Path, ca_cert: Path, key: Path, cert: Path, *extensions: str) -> None:
    """A leaf certificate signed by the given CA, made straight with openssl."""
    args = ["req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    args += ["-noenc", "-keyout", os.fspath(key), "-out", os.fspath(cert), "-subj", "/CN=leaf"]
    args += ["-CA", os.fspath(ca_cert), "-CAkey", os.fspath(ca_key), "-days", "30"]
    for ext in extensions:
        args += ["-addext", ext]
    openssl(*args)


def test_certificates_layout_and_modes(tmp_path: Path) -> None:
    """ca/, server/, client/ should hold dind's files; only the client key is world-readable."""
    certdir = tmp_path / "certs"
    outcome = make(certdir)
    assert outcome.ca == "created"
    names = sorted(str(p.relative_to(certdir)) for p in certdir.rglob("*"))
    assert names == [
        "ca", "ca/cert.pem", "ca/key.pem",
        "client", "client/ca.pem", "client/cert.pem", "client/key.pem",
        "server", "server/ca.pem", "server/cert.pem", "server/key.pem",
    ]  # fmt: skip
    modes = {name: (certdir / name).stat().st_mode & 0o777 for name in names}
    assert modes["ca/key.pem"] == 0o600
    assert modes["server/key.pem"] == 0o600
    assert modes["client/key.pem"] == 0o644
    assert modes["client/cert.pem"] == modes["server/ca.pem"] == 0o644
    assert read(certdir / "server/ca.pem") == read(certdir / "ca/cert.pem")
    assert read(certdir / "client/ca.pem") == read(certdir / "ca/cert.pem")


def test_certificates_private_key_modes_ignore_umask(tmp_path: Path) -> None:
    """Neither a permissive nor a strict umask should change the modes dind's clients rely on."""
    for umask in (0o000, 0o077):
        certdir = tmp_path / f"certs-{umask:o}"
        old = os.umask(umask)
        try:
            make(certdir)
        finally:
            os.umask(old)
        modes = {name: (certdir / name).stat().st_mode & 0o777 for name in ("ca/key.pem", "server/key.pem",
                 "client/key.pem", "client/cert.pem", "server/ca.pem", ".", "ca", "server", "client")}  # fmt: skip
        assert modes == {"ca/key.pem": 0o600, "server/key.pem": 0o600, "client/key.pem": 0o644,
                         "client/cert.pem": 0o644, "server/ca.pem": 0o644,
                         ".": 0o755, "ca": 0o755, "server": 0o755, "client": 0o755}, umask  # fmt: skip


def test_certificates_verify_with_their_purpose(tmp_path: Path) -> None:
    """The server cert should verify for TLS servers only, the client cert for clients only."""
    certdir = tmp_path / "certs"
    make(certdir)
    ca = os.fspath(certdir / "ca/cert.pem")
    server, client = os.fspath(certdir / "server/cert.pem"), os.fspath(certdir / "client/cert.pem")
    assert openssl("verify", "-purpose", "sslserver", "-CAfile", ca, server).stdout.endswith("OK\n")
    assert openssl("verify", "-purpose", "sslclient", "-CAfile", ca, client).stdout.endswith("OK\n")
    assert openssl("verify", "-purpose", "sslserver", "-CAfile", ca, client, check=False).returncode
    assert openssl("verify", "-purpose", "sslclient", "-CAfile", ca, server, check=False).returncode


def test_certificates_extensions(tmp_path: Path) -> None:
    """EKU serverAuth/clientAuth, CA:TRUE only on the CA, ECDSA P-256 keys."""
    certdir = tmp_path / "certs"
    make(certdir)
    assert "TLS Web Server Authentication" in extension(certdir / "server/cert.pem", "extendedKeyUsage")
    assert "TLS Web Client Authentication" in extension(certdir / "client/cert.pem", "extendedKeyUsage")
    assert "CA:TRUE" in extension(certdir / "ca/cert.pem", "basicConstraints")
    for leaf in LEAVES:
        assert "CA:FALSE" in extension(certdir / leaf / "cert.pem", "basicConstraints")
    for key in ("ca/key.pem", "server/key.pem", "client/key.pem"):
        text = openssl("pkey", "-in", os.fspath(certdir / key), "-noout", "-text").stdout
        assert "prime256v1" in text, key


def test_certificates_server_sans(tmp_path: Path) -> None:
    """Server SANs should hold loopback, every interface address, the names and DOCKER_TLS_SAN."""
    certdir = tmp_path / "certs"
    outcome = make(certdir, tls_san="DNS:ci.example,IP:192.0.2.77")
    text = extension(certdir / "server/cert.pem", "subjectAltName")
    for expected in ("DNS:docker", "DNS:localhost", f"DNS:{socket.gethostname()}",
                     "DNS:ci.example", "IP Address:127.0.0.1", "IP Address:192.0.2.77"):  # fmt: skip
        assert expected in text
    for address in tls.interface_addresses():
        assert f"IP:{address}" in outcome.server_sans
    assert "Subject Alternative Name" not in extension(certdir / "client/cert.pem", "subjectAltName")


def test_certificates_restart_keeps_ca_and_reissues_leaves(tmp_path: Path) -> None:
    """A second start should keep the CA and leaf keys, re-issue both leaf certs, and verify."""
    certdir = tmp_path / "certs"
    make(certdir)
    before = {p: read(certdir / p) for p in ("ca/cert.pem", "ca/key.pem", "server/key.pem",
                                              "client/key.pem", "server/cert.pem", "client/cert.pem")}  # fmt: skip
    outcome = make(certdir, tls_san="DNS:added-later.example")
    assert outcome.ca == "kept"
    for kept in ("ca/cert.pem", "ca/key.pem", "server/key.pem", "client/key.pem"):
        assert read(certdir / kept) == before[kept], kept
    for reissued in ("server/cert.pem", "client/cert.pem"):
        assert read(certdir / reissued) != before[reissued], reissued
    assert "added-later.example" in extension(certdir / "server/cert.pem", "subjectAltName")
    ca = os.fspath(certdir / "server/ca.pem")
    openssl("verify", "-CAfile", ca, os.fspath(certdir / "server/cert.pem"))
    assert not list(certdir.rglob(".*.new"))


def test_certificates_restart_repairs_key_modes(tmp_path: Path) -> None:
    """Kept keys should get their modes back (0600, client 0644) at every start."""
    certdir = tmp_path / "certs"
    make(certdir)
    (certdir / "ca/key.pem").chmod(0o644)
    (certdir / "server/key.pem").chmod(0o640)
    (certdir / "client/key.pem").chmod(0o600)
    make(certdir)
    assert (certdir / "ca/key.pem").stat().st_mode & 0o777 == 0o600
    assert (certdir / "server/key.pem").stat().st_mode & 0o777 == 0o600
    assert (certdir / "client/key.pem").stat().st_mode & 0o777 == 0o644


def test_certificates_expiring_ca_renewed_with_same_key(tmp_path: Path) -> None:
    """A CA certificate within 30 days of expiry should be re-issued from the same key."""
    certdir = tmp_path / "certs"
    key, cert = other_ca(certdir / "ca", days="10")
    old_cert = read(cert)
    assert make(certdir).ca == "renewed"
    assert read(cert) != old_cert
    assert public_key(cert) == public_key(key)
    openssl("x509", "-in", os.fspath(cert), "-noout", "-checkend", str(700 * 86400))


def test_certificates_ca_key_without_cert_gets_a_cert(tmp_path: Path) -> None:
    """ca/key.pem alone should be kept and given a new CA certificate (dind re-uses the key)."""
    certdir = tmp_path / "certs"
    key, cert = other_ca(certdir / "ca")
    cert.unlink()
    old_key = read(key)
    assert make(certdir).ca == "renewed"
    assert read(key) == old_key
    assert public_key(cert) == public_key(key)


def test_certificates_adopt_dind_rsa_volume(tmp_path: Path) -> None:
    """An RSA CA and keys left by docker:dind should be kept and used to sign new leaves."""
    certdir = tmp_path / "certs"
    for part in ("ca", "server", "client"):
        (certdir / part).mkdir(parents=True)
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                "-out", os.fspath(certdir / part / "key.pem"))  # fmt: skip
    openssl("req", "-x509", "-new", "-key", os.fspath(certdir / "ca/key.pem"),
            "-out", os.fspath(certdir / "ca/cert.pem"), "-subj", "/CN=docker:dind CA", "-days", "825",
            "-addext", "keyUsage=critical,digitalSignature,keyCertSign")  # fmt: skip
    server_key = read(certdir / "server/key.pem")
    assert make(certdir).ca == "kept"
    assert read(certdir / "server/key.pem") == server_key
    text = openssl("x509", "-in", os.fspath(certdir / "server/cert.pem"), "-noout", "-text").stdout
    assert "rsaEncryption" in text and "docker:dind CA" in text


def test_certificates_user_managed_ca_only_verified(tmp_path: Path) -> None:
    """server/{ca,cert,key}.pem without ca/key.pem should be verified and left untouched."""
    certdir = tmp_path / "certs"
    ca_key, ca_cert = other_ca(tmp_path / "user-ca")
    (certdir / "server").mkdir(parents=True)
    leaf_from(ca_key, ca_cert, certdir / "server/key.pem", certdir / "server/cert.pem",
              "extendedKeyUsage=serverAuth", "subjectAltName=DNS:docker")  # fmt: skip
    (certdir / "server/ca.pem").write_bytes(read(ca_cert))
    before = {p.name: read(p) for p in (certdir / "server").iterdir()}
    outcome = make(certdir)
    assert outcome.ca == "user-managed"
    assert {p.name: read(p) for p in (certdir / "server").iterdir()} == before
    assert not (certdir / "ca").exists() and not (certdir / "client").exists()


def test_certificates_user_managed_wrong_ca_fails_in_one_line(tmp_path: Path) -> None:
    """A user server cert that does not verify against server/ca.pem should stop the start."""
    certdir = tmp_path / "certs"
    ca_key, ca_cert = other_ca(tmp_path / "user-ca")
    _, unrelated = other_ca(tmp_path / "unrelated-ca")
    (certdir / "server").mkdir(parents=True)
    leaf_from(ca_key, ca_cert, certdir / "server/key.pem", certdir / "server/cert.pem")
    (certdir / "server/ca.pem").write_bytes(read(unrelated))
    with pytest.raises(LaunchError) as error:
        make(certdir)
    line = error.value.one_line()
    assert "\n" not in line
    assert "does not verify against" in line and "unable to get local issuer certificate" in line


def test_certificates_user_managed_check_ignores_system_trust(tmp_path: Path) -> None:
    """Verification should trust server/ca.pem alone, not the system's CA bundle."""
    bundle = Path("/etc/ssl/certs/ca-certificates.crt").read_text()
    public_root = bundle[: bundle.index("-----END CERTIFICATE-----") + 26]
    certdir = tmp_path / "certs"
    _, unrelated = other_ca(tmp_path / "unrelated")
    (certdir / "server").mkdir(parents=True)
    (certdir / "server/cert.pem").write_text(public_root)  # self-signed, trusted by the system
    (certdir / "server/key.pem").write_bytes(read(tmp_path / "unrelated/key.pem"))
    (certdir / "server/ca.pem").write_bytes(read(unrelated))
    with pytest.raises(LaunchError, match="does not verify against"):
        make(certdir)


def test_certificates_user_managed_forged_issuer_fails(tmp_path: Path) -> None:
    """A server/ca.pem with the right name but another key should fail on the signature."""
    certdir = tmp_path / "certs"
    ca_key, ca_cert = other_ca(tmp_path / "user")
    _, same_name = other_ca(tmp_path / "elsewhere" / "user")
    (certdir / "server").mkdir(parents=True)
    leaf_from(ca_key, ca_cert, certdir / "server/key.pem", certdir / "server/cert.pem")
    (certdir / "server/ca.pem").write_bytes(read(same_name))
    with pytest.raises(LaunchError, match="certificate signature failure"):
        make(certdir)


def test_certificates_ca_cert_without_key_or_server_fails(tmp_path: Path) -> None:
    """ca/cert.pem alone can sign nothing: the start should stop with a fix."""
    certdir = tmp_path / "certs"
    other_ca(certdir / "ca")
    (certdir / "ca/key.pem").unlink()
    with pytest.raises(LaunchError, match="nothing can sign") as error:
        make(certdir)
    assert error.value.hint and "ca/key.pem" in error.value.hint


def test_certificates_mismatched_ca_pair_fails(tmp_path: Path) -> None:
    """A ca/key.pem that does not belong to ca/cert.pem should be refused, naming the pair."""
    certdir = tmp_path / "certs"
    other_ca(certdir / "ca")
    stray_key, _ = other_ca(tmp_path / "stray")
    (certdir / "ca/key.pem").write_bytes(read(stray_key))
    with pytest.raises(LaunchError, match="does not belong to") as error:
        make(certdir)
    assert error.value.hint and "must be a pair" in error.value.hint


def test_certificates_mismatched_ca_pair_leaves_the_leaves_alone(tmp_path: Path) -> None:
    """The pair is checked before anything is issued: the old leaves stay as they were."""
    certdir = tmp_path / "certs"
    make(certdir)
    before = {leaf: read(certdir / leaf / "cert.pem") for leaf in LEAVES}
    stray_key, _ = other_ca(tmp_path / "stray")
    (certdir / "ca/key.pem").write_bytes(read(stray_key))
    with pytest.raises(LaunchError, match="does not belong to"):
        make(certdir)
    assert {leaf: read(certdir / leaf / "cert.pem") for leaf in LEAVES} == before


def test_certificates_unreadable_leaf_key_names_the_file(tmp_path: Path) -> None:
    """A server/key.pem that is not a PEM key should fail in one line naming it and the fix."""
    certdir = tmp_path / "certs"
    make(certdir)
    (certdir / "server/key.pem").write_text("not a key\n")
    with pytest.raises(LaunchError) as error:
        make(certdir)
    line = error.value.one_line()
    assert "server/key.pem is not a readable private key" in line
    assert "\n" not in line and error.value.hint == f"remove {certdir}/server to have it made again"


def on_a_terminal(certdir: Path) -> str:
    """ensure_certificates(certdir) in a child whose controlling terminal is a pty, where
    libcrypto's default pass-phrase callback would prompt and wait; what it printed."""
    code = (
        "from docker_from_scratch.launcher import tls\n"
        "from docker_from_scratch.launcher.errors import LaunchError\n"
        f"try: tls.ensure_certificates({os.fspath(certdir)!r})\n"
        "except LaunchError as e: print('refused:', e.one_line())\n"
    )
    pid, terminal = pty.fork()
    if pid == 0:  # the child, with the pty as its controlling terminal
        os.execv(sys.executable, [sys.executable, "-c", code])
    output = b""
    try:
        while select.select([terminal], [], [], 20)[0]:
            try:
                chunk = os.read(terminal, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
    finally:
        os.close(terminal)
        if os.waitpid(pid, os.WNOHANG) == (0, 0):  # still waiting on the terminal
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    return output.decode(errors="replace")


def test_certificates_encrypted_leaf_key_fails_without_a_prompt(tmp_path: Path) -> None:
    """A passphrase-protected server/key.pem should fail like an unreadable key, on a terminal too."""
    certdir = tmp_path / "certs"
    make(certdir)
    key, encrypted = certdir / "server/key.pem", tmp_path / "encrypted.pem"
    openssl("pkey", "-in", os.fspath(key), "-aes256", "-passout", "pass:secret", "-out", os.fspath(encrypted))
    key.write_bytes(read(encrypted))
    text = on_a_terminal(certdir)
    assert "pass phrase" not in text.lower(), text
    assert "refused:" in text and "server/key.pem is not a readable private key" in text, text


def test_certificates_encrypted_pem_certificate_fails_without_a_prompt(tmp_path: Path) -> None:
    """A user's server/cert.pem with PEM encryption headers should be refused, on a terminal too."""
    certdir = tmp_path / "certs"
    make(certdir)
    (certdir / "ca/key.pem").unlink()  # user-managed: only verified
    cert = certdir / "server/cert.pem"
    lines = read(cert).decode().splitlines()
    headers = ["Proc-Type: 4,ENCRYPTED", "DEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF", ""]
    cert.write_text("\n".join([lines[0], *headers, *lines[1:]]) + "\n")
    text = on_a_terminal(certdir)
    assert "pass phrase" not in text.lower(), text
    assert "refused:" in text and "server/cert.pem is not a PEM certificate" in text, text


def test_certificates_kept_ca_without_key_identifier_signs_leaves(tmp_path: Path) -> None:
    """A kept CA without a subjectKeyIdentifier (hand-made CAs) should still sign leaves that verify."""
    certdir = tmp_path / "certs"
    _, cert = other_ca(certdir / "ca", extensions=("subjectKeyIdentifier=none", "authorityKeyIdentifier=none"))
    assert "Subject Key Identifier" not in openssl("x509", "-in", os.fspath(cert), "-noout", "-text").stdout
    assert make(certdir).ca == "kept"
    for leaf in LEAVES:
        openssl("verify", "-CAfile", os.fspath(cert), os.fspath(certdir / leaf / "cert.pem"))


def test_certificates_kept_intermediate_ca_signs_leaves(tmp_path: Path) -> None:
    """A kept ca/ holding an intermediate CA (signed by another root) should be trusted as given."""
    root = other_ca(tmp_path / "root")
    certdir = tmp_path / "certs"
    _, cert = other_ca(certdir / "ca", issuer=root)
    assert make(certdir).ca == "kept"
    for leaf in LEAVES:
        openssl("verify", "-partial_chain", "-CAfile", os.fspath(cert), os.fspath(certdir / leaf / "cert.pem"))
        assert read(certdir / leaf / "ca.pem") == read(cert)


def test_certificates_following_the_mismatch_hint_gives_a_new_ca(tmp_path: Path) -> None:
    """The mismatched-pair hint, done as written, should lead to a new CA, not to user-managed."""
    certdir = tmp_path / "certs"
    make(certdir)
    stray_key, _ = other_ca(tmp_path / "stray")
    (certdir / "ca/key.pem").write_bytes(read(stray_key))
    with pytest.raises(LaunchError) as error:
        make(certdir)
    hint = error.value.hint or ""
    assert f"remove {certdir}/ca and {certdir}/server" in hint, hint
    shutil.rmtree(certdir / "ca")
    shutil.rmtree(certdir / "server")
    assert make(certdir).ca == "created"


def test_certificates_kept_pair_that_is_no_ca_is_refused_before_writing(tmp_path: Path) -> None:
    """A matching ca/ pair whose certificate says CA:FALSE should stop the start, leaves untouched."""
    certdir = tmp_path / "certs"
    make(certdir)
    before = {leaf: read(certdir / leaf / "cert.pem") for leaf in LEAVES}
    key, cert = certdir / "ca/key.pem", certdir / "ca/cert.pem"
    openssl("req", "-x509", "-new", "-key", os.fspath(key), "-out", os.fspath(cert), "-subj", "/CN=not a CA",
            "-days", "365", "-addext", "basicConstraints=critical,CA:FALSE")  # fmt: skip
    with pytest.raises(LaunchError, match="do not verify against it") as error:
        make(certdir)
    assert error.value.hint and "CA:TRUE" in error.value.hint
    assert {leaf: read(certdir / leaf / "cert.pem") for leaf in LEAVES} == before


def test_certificates_ed25519_ca_signs_leaves(tmp_path: Path) -> None:
    """A kept Ed25519 CA (no digest may be named for it) should sign leaves that verify."""
    certdir = tmp_path / "certs"
    (certdir / "ca").mkdir(parents=True)
    key, cert = certdir / "ca/key.pem", certdir / "ca/cert.pem"
    openssl("genpkey", "-algorithm", "ed25519", "-out", os.fspath(key))
    openssl("req", "-x509", "-new", "-key", os.fspath(key), "-out", os.fspath(cert), "-subj", "/CN=ed25519 CA",
            "-days", "365", "-addext", "basicConstraints=critical,CA:TRUE")  # fmt: skip
    assert make(certdir).ca == "kept"
    for leaf in LEAVES:
        openssl("verify", "-CAfile", os.fspath(cert), os.fspath(certdir / leaf / "cert.pem"))


def test_certificates_ca_outside_the_renewal_window_is_kept(tmp_path: Path) -> None:
    """A CA certificate 40 days from expiry (renewal starts at 30) should be kept as it is."""
    certdir = tmp_path / "certs"
    _, cert = other_ca(certdir / "ca", days="40")
    old_cert = read(cert)
    assert make(certdir).ca == "kept"
    assert read(cert) == old_cert


def test_certificates_unreadable_ca_cert_is_renewed_from_its_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ca/cert.pem that is not PEM beside a good key should be re-issued from it, with a warning."""
    certdir = tmp_path / "certs"
    key, cert = other_ca(certdir / "ca")
    cert.write_text("garbage\n")
    assert make(certdir).ca == "renewed"
    assert public_key(cert) == public_key(key)
    assert "a new CA certificate will be issued" in capsys.readouterr().err
    assert all(read(certdir / leaf / "ca.pem") == read(cert) for leaf in LEAVES)


def test_certificates_bad_client_key_writes_nothing(tmp_path: Path) -> None:
    """A junk client/key.pem on a fresh volume should fail before any CA or server file is written."""
    certdir = tmp_path / "certs"
    (certdir / "client").mkdir(parents=True)
    (certdir / "client/key.pem").write_text("junk\n")
    with pytest.raises(LaunchError, match=r"client/key\.pem is not a readable private key"):
        make(certdir)
    assert sorted(str(p.relative_to(certdir)) for p in certdir.rglob("*")) == ["client", "client/key.pem"]


def test_certificates_library_without_the_calls_names_the_fix(tmp_path: Path) -> None:
    """A library that is not libcrypto 3 (missing symbols) should fail in one line, nothing written."""
    from docker_from_scratch.requirements.paths import find_library

    zlib = find_library("libz.so.1")
    assert zlib is not None
    certdir = tmp_path / "certs"
    with pytest.raises(LaunchError) as error:
        tls.ensure_certificates(os.fspath(certdir), libcrypto=zlib)
    assert "cannot be loaded" in error.value.one_line() and "DOCKER_TLS_CERTDIR=''" in error.value.one_line()
    assert not certdir.exists()


def test_certificates_without_libcrypto_name_the_fix(tmp_path: Path) -> None:
    """No libcrypto to load should fail before writing anything and point at DOCKER_TLS_CERTDIR=''."""
    certdir = tmp_path / "certs"
    with pytest.raises(LaunchError) as error:
        tls.ensure_certificates(os.fspath(certdir), libcrypto=os.fspath(tmp_path / "libcrypto.so.3"))
    assert "DOCKER_TLS_CERTDIR=''" in error.value.one_line()
    assert not certdir.exists()


def test_certificates_user_managed_without_libcrypto_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A user-managed CA needs no libcrypto: without it the start goes on with a warning."""
    certdir = tmp_path / "certs"
    make(certdir)
    (certdir / "ca/key.pem").unlink()
    outcome = tls.ensure_certificates(os.fspath(certdir), libcrypto=os.fspath(tmp_path / "libcrypto.so.3"))
    assert outcome.ca == "user-managed"
    assert "not verified" in capsys.readouterr().err


def test_certificates_under_root(tmp_path: Path) -> None:
    """certdir should be joined under root, like every path-touching launcher step."""
    tls.ensure_certificates("/certs", root=os.fspath(tmp_path))
    assert (tmp_path / "certs/server/cert.pem").stat().st_size > 0


# --- a real TLS handshake with the certificates -------------------------------------------


@contextmanager
def tls_echo_server(certdir: Path) -> Iterator[tuple[int, list[BaseException]]]:
    """A TLS server on 127.0.0.1 with the server cert, requiring a client cert from our CA.

    Serves one connection (each test makes one), echoing one message; yields its port
    and the errors its handshake raised.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certdir / "server/cert.pem", certdir / "server/key.pem")
    context.load_verify_locations(certdir / "server/ca.pem")
    context.verify_mode = ssl.CERT_REQUIRED
    errors: list[BaseException] = []
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(30)

    def serve_one() -> None:
        try:
            raw, _ = listener.accept()
        except OSError as exc:
            errors.append(exc)
            return
        raw.settimeout(30)
        try:
            with context.wrap_socket(raw, server_side=True) as conn:
                conn.sendall(conn.recv(100))
        except OSError as exc:  # ssl.SSLError is an OSError
            errors.append(exc)
        finally:
            raw.close()

    thread = threading.Thread(target=serve_one, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], errors
    finally:
        thread.join(timeout=30)
        listener.close()


def client_context(ca: Path, cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=os.fspath(ca))
    context.load_cert_chain(cert, key)
    return context


def talk(port: int, context: ssl.SSLContext, server_hostname: str) -> bytes:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=server_hostname) as conn,
    ):
        conn.sendall(b"ping\n")
        return conn.recv(100)


@pytest.mark.parametrize("server_hostname", ["127.0.0.1", "localhost", "docker"])
def test_handshake_with_client_certificate(tmp_path: Path, server_hostname: str) -> None:
    """A client with client/ files should complete mutual TLS and check the server's name."""
    certdir = tmp_path / "certs"
    make(certdir)
    client = client_context(certdir / "client/ca.pem", certdir / "client/cert.pem",
                            certdir / "client/key.pem")  # fmt: skip
    with tls_echo_server(certdir) as (port, errors):
        assert talk(port, client, server_hostname) == b"ping\n"
    assert errors == []


def test_handshake_refuses_client_from_another_ca(tmp_path: Path) -> None:
    """The server should refuse a client certificate that another CA signed."""
    certdir = tmp_path / "certs"
    make(certdir)
    ca_key, ca_cert = other_ca(tmp_path / "other")
    leaf_from(ca_key, ca_cert, tmp_path / "other/client-key.pem", tmp_path / "other/client.pem",
              "extendedKeyUsage=clientAuth")  # fmt: skip
    stranger = client_context(certdir / "client/ca.pem", tmp_path / "other/client.pem",
                              tmp_path / "other/client-key.pem")  # fmt: skip
    with tls_echo_server(certdir) as (port, errors), pytest.raises((ssl.SSLError, OSError)):
        talk(port, stranger, "localhost")
    assert any("certificate verify failed" in str(error) for error in errors)


def test_handshake_refuses_server_from_another_ca(tmp_path: Path) -> None:
    """A client trusting our CA should refuse a server whose certificate another CA signed."""
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    make(ours)
    make(theirs)
    client = client_context(ours / "client/ca.pem", ours / "client/cert.pem",
                            ours / "client/key.pem")  # fmt: skip
    with tls_echo_server(theirs) as (port, _), pytest.raises(ssl.SSLCertVerificationError):
        talk(port, client, "localhost")


def test_handshake_refuses_unknown_name(tmp_path: Path) -> None:
    """The server certificate should not pass for a name outside its SANs."""
    certdir = tmp_path / "certs"
    make(certdir)
    client = client_context(certdir / "client/ca.pem", certdir / "client/cert.pem",
                            certdir / "client/key.pem")  # fmt: skip
    with tls_echo_server(certdir) as (port, _), pytest.raises(ssl.SSLCertVerificationError):
        talk(port, client, "not-docker.example")
