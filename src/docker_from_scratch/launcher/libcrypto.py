"""OpenSSL's libcrypto through ctypes: the few calls docker:dind's certificates need.

Every piece of cryptography (key generation, signatures, DER and PEM encoding, chain
verification) is libcrypto's own; this module only passes it pointers and strings.
Loaded in the TLS step alone (tls.py); calls are the OpenSSL 3.0 API, which every
suite's libcrypto.so.3 has (bookworm 3.0, trixie 3.5, forky 3.6).

Why not the openssl CLI (what this replaced): ssh and kmod link libcrypto alone, so the
CLI cost 1.1 MB, and 2.2 MB in slim, where only it linked libssl.so.3; and each run paid
a process start. In-process the three certificates take a few milliseconds.

Objects are owned by small classes that free them when Python drops them: each start
makes a handful, and a failure in the middle leaks nothing that outlives the step.
"""

from __future__ import annotations

import ctypes
import os

from docker_from_scratch.launcher.errors import LaunchError
from docker_from_scratch.requirements.table import LIBCRYPTO

_P = ctypes.c_void_p
_S = ctypes.c_char_p
_I = ctypes.c_int
_L = ctypes.c_long
# OPENSSL_INIT_NO_LOAD_CONFIG: every extension is given here, so no openssl.cnf may add
# to what is issued (unless the process loaded libcrypto with its configuration before,
# as Python's ssl does in the tests; the launcher never does).
_NO_LOAD_CONFIG = 0x80
_MBSTRING_ASC = 0x1001
_X509_VERSION_3 = 2
_BIO_CTRL_PENDING = 10
# X509_V_FLAG_PARTIAL_CHAIN: a CA we were handed as ca/cert.pem is trusted as it is, also
# when it is an intermediate (Go clients take one as a root of their pool).
_PARTIAL_CHAIN = 0x80000
# X509V3_CTX is a public struct of 8 words in OpenSSL 3; the calls only need the memory.
_V3_CTX_SIZE = 256

# name: (restype, argtypes); restype None for void.
_SIGNATURES: dict[str, tuple[object, tuple[object, ...]]] = {
    "OPENSSL_init_crypto": (_I, (ctypes.c_uint64, _P)),
    "EVP_PKEY_get_default_digest_name": (_I, (_P, _P, ctypes.c_size_t)),
    "ERR_get_error": (ctypes.c_ulong, ()),
    "ERR_error_string_n": (None, (ctypes.c_ulong, _P, ctypes.c_size_t)),
    "ERR_clear_error": (None, ()),
    "EVP_PKEY_CTX_new_from_name": (_P, (_P, _S, _S)),
    "EVP_PKEY_keygen_init": (_I, (_P,)),
    "EVP_PKEY_CTX_set_group_name": (_I, (_P, _S)),
    "EVP_PKEY_generate": (_I, (_P, ctypes.POINTER(_P))),
    "EVP_PKEY_CTX_free": (None, (_P,)),
    "EVP_PKEY_free": (None, (_P,)),
    "EVP_sha256": (_P, ()),
    "BIO_new_mem_buf": (_P, (_P, _I)),
    "BIO_new": (_P, (_P,)),
    "BIO_s_mem": (_P, ()),
    "BIO_ctrl": (_L, (_P, _I, _L, _P)),
    "BIO_read": (_I, (_P, _P, _I)),
    "BIO_free": (_I, (_P,)),
    "PEM_read_bio_PrivateKey": (_P, (_P, _P, _P, _P)),
    "PEM_read_bio_X509": (_P, (_P, _P, _P, _P)),
    "PEM_write_bio_PrivateKey": (_I, (_P, _P, _P, _P, _I, _P, _P)),
    "PEM_write_bio_X509": (_I, (_P, _P)),
    "X509_new": (_P, ()),
    "X509_free": (None, (_P,)),
    "X509_set_version": (_I, (_P, _L)),
    "X509_get_serialNumber": (_P, (_P,)),
    "BN_bin2bn": (_P, (_P, _I, _P)),
    "BN_to_ASN1_INTEGER": (_P, (_P, _P)),
    "BN_free": (None, (_P,)),
    "X509_getm_notBefore": (_P, (_P,)),
    "X509_getm_notAfter": (_P, (_P,)),
    "X509_get0_notAfter": (_P, (_P,)),
    "X509_gmtime_adj": (_P, (_P, _L)),
    "X509_time_adj_ex": (_P, (_P, _I, _L, _P)),
    "ASN1_TIME_compare": (_I, (_P, _P)),
    "ASN1_TIME_free": (None, (_P,)),
    "X509_set_pubkey": (_I, (_P, _P)),
    "X509_get_subject_name": (_P, (_P,)),
    "X509_set_issuer_name": (_I, (_P, _P)),
    "X509_NAME_add_entry_by_txt": (_I, (_P, _S, _I, _S, _I, _I, _I)),
    "X509V3_set_ctx": (None, (_P, _P, _P, _P, _P, _I)),
    "X509V3_EXT_nconf": (_P, (_P, _P, _S, _S)),
    "X509_add_ext": (_I, (_P, _P, _I)),
    "X509_EXTENSION_free": (None, (_P,)),
    "X509_sign": (_I, (_P, _P, _P)),
    "X509_check_private_key": (_I, (_P, _P)),
    "X509_STORE_new": (_P, ()),
    "X509_STORE_free": (None, (_P,)),
    "X509_STORE_load_file": (_I, (_P, _S)),
    "X509_STORE_add_cert": (_I, (_P, _P)),
    "X509_STORE_set_flags": (_I, (_P, ctypes.c_ulong)),
    "X509_STORE_CTX_new": (_P, ()),
    "X509_STORE_CTX_free": (None, (_P,)),
    "X509_STORE_CTX_init": (_I, (_P, _P, _P, _P)),
    "X509_STORE_CTX_get_error": (_I, (_P,)),
    "X509_verify_cert": (_I, (_P,)),
    "X509_verify_cert_error_string": (_S, (_L,)),
}


class Crypto:
    """A loaded libcrypto: make keys and certificates, read them, check them."""

    def __init__(self, library: str = LIBCRYPTO) -> None:
        try:
            lib = ctypes.CDLL(library)
            for name, (restype, argtypes) in _SIGNATURES.items():
                function = getattr(lib, name)
                function.restype = restype
                function.argtypes = argtypes
        except (OSError, AttributeError) as exc:  # AttributeError: a symbol OpenSSL 3.0 has is missing
            raise LaunchError(f"{library} cannot be loaded ({exc})") from None
        self.lib = lib
        self._check(lib.OPENSSL_init_crypto(_NO_LOAD_CONFIG, None), "initialise libcrypto")

    # --- errors ------------------------------------------------------------------------

    def _reason(self) -> str:
        """The oldest queued libcrypto error as text (then the queue is emptied)."""
        code = self.lib.ERR_get_error()
        self.lib.ERR_clear_error()
        if not code:
            return "no reason given"
        buffer = ctypes.create_string_buffer(256)
        self.lib.ERR_error_string_n(code, buffer, len(buffer))
        # "error:0580006C:x509 certificate routines::key values mismatch": the reason part
        return buffer.value.decode(errors="replace").rsplit(":", 1)[-1] or "unknown error"

    def _check(self, value: int | None, what: str) -> int:
        if not value or (isinstance(value, int) and value < 0):
            raise LaunchError(f"libcrypto could not {what}: {self._reason()}")
        return value

    # --- keys --------------------------------------------------------------------------

    def new_key(self) -> Key:
        """A new ECDSA P-256 key."""
        lib = self.lib
        ctx = self._check(lib.EVP_PKEY_CTX_new_from_name(None, b"EC", None), "make a key context")
        try:
            self._check(lib.EVP_PKEY_keygen_init(ctx), "start a key")
            self._check(lib.EVP_PKEY_CTX_set_group_name(ctx, b"P-256"), "choose P-256")
            pointer = _P()
            self._check(lib.EVP_PKEY_generate(ctx, ctypes.byref(pointer)), "generate a P-256 key")
            return Key(self, self._check(pointer.value, "generate a P-256 key"))
        finally:
            lib.EVP_PKEY_CTX_free(ctx)

    def read_key(self, pem: bytes, path: str, hint: str = "") -> Key:
        """An unencrypted private key (any type docker:dind volumes hold: RSA, EC)."""
        with _MemoryIn(self, pem) as bio:
            # An empty passphrase, not NULL: with NULL an encrypted key would make
            # libcrypto prompt on the terminal; this way it fails like any unreadable key.
            key = self.lib.PEM_read_bio_PrivateKey(bio, None, None, b"")
        if not key:
            raise LaunchError(f"{path} is not a readable private key: {self._reason()}", hint=hint or f"remove {path}")
        return Key(self, key)

    # --- certificates ------------------------------------------------------------------

    def read_certificate(self, pem: bytes, path: str) -> Certificate:
        """The first certificate of a PEM file."""
        with _MemoryIn(self, pem) as bio:
            cert = self.lib.PEM_read_bio_X509(bio, None, None, b"")  # no prompt: see read_key
        if not cert:
            raise LaunchError(f"{path} is not a PEM certificate: {self._reason()}", hint=f"remove {path}")
        return Certificate(self, cert)

    def issue(
        self,
        key: Key,
        common_name: str,
        days: int,
        extensions: tuple[str, ...],
        issuer: tuple[Certificate, Key] | None = None,
    ) -> Certificate:
        """An X.509 v3 certificate for ``key``: self-signed without ``issuer``, else signed
        by the issuer's key. ``extensions`` are ``name=value`` in openssl's config syntax
        (x509v3_config(5)). The key identifiers are added with openssl's defaults: the
        authority's is its key id when the issuer has one, else its name and serial."""
        lib = self.lib
        cert = Certificate(self, self._check(lib.X509_new(), "make a certificate"))
        x = cert.pointer
        self._check(lib.X509_set_version(x, _X509_VERSION_3), "set the version")
        serial = os.urandom(16)  # positive, below 2**128: RFC 5280 allows 20 octets
        bn = self._check(lib.BN_bin2bn(serial, len(serial), None), "make a serial number")
        try:
            self._check(lib.BN_to_ASN1_INTEGER(bn, lib.X509_get_serialNumber(x)), "set the serial number")
        finally:
            lib.BN_free(bn)
        self._check(lib.X509_gmtime_adj(lib.X509_getm_notBefore(x), 0), "set notBefore")
        self._check(lib.X509_time_adj_ex(lib.X509_getm_notAfter(x), days, 0, None), "set notAfter")
        self._check(lib.X509_set_pubkey(x, key.pointer), "set the public key")
        name = lib.X509_get_subject_name(x)
        self._check(
            lib.X509_NAME_add_entry_by_txt(name, b"CN", _MBSTRING_ASC, common_name.encode(), -1, -1, 0),
            f"set the subject CN={common_name}",
        )
        issuer_cert, signer = issuer if issuer is not None else (cert, key)
        self._check(lib.X509_set_issuer_name(x, lib.X509_get_subject_name(issuer_cert.pointer)), "set the issuer")
        v3 = ctypes.create_string_buffer(_V3_CTX_SIZE)
        lib.X509V3_set_ctx(v3, issuer_cert.pointer, x, None, None, 0)
        identifiers: tuple[str, ...] = ("subjectKeyIdentifier=hash",)
        if issuer is not None:  # optional in a self-signed CA (RFC 5280 4.2.1.1)
            identifiers += ("authorityKeyIdentifier=keyid,issuer",)
        for extension in (*extensions, *identifiers):
            ext_name, _, value = extension.partition("=")
            ext = lib.X509V3_EXT_nconf(None, v3, ext_name.encode(), value.encode())
            if not ext:
                raise LaunchError(f"libcrypto refused the extension {extension}: {self._reason()}")
            try:
                self._check(lib.X509_add_ext(x, ext, -1), f"add {ext_name}")
            finally:
                lib.X509_EXTENSION_free(ext)
        # Keys that sign the whole message (Ed25519, Ed448, ML-DSA) have no default digest
        # ("UNDEF") and refuse one; the others get SHA-256, as openssl req gives them.
        default = ctypes.create_string_buffer(80)
        lib.EVP_PKEY_get_default_digest_name(signer.pointer, default, len(default))
        lib.ERR_clear_error()
        digest = None if default.value == b"UNDEF" else lib.EVP_sha256()
        self._check(lib.X509_sign(x, signer.pointer, digest), "sign the certificate")
        return cert

    def verify(self, cert: Certificate, *, ca_file: str = "", authority: Certificate | None = None) -> str | None:
        """None when ``cert`` chains to a certificate in ``ca_file`` or to ``authority``
        (trusted as given, as ``openssl verify -CAfile`` does, with no system trust), else
        libcrypto's reason."""
        lib = self.lib
        store = self._check(lib.X509_STORE_new(), "make a certificate store")
        ctx = None
        try:
            if authority is not None:
                self._check(lib.X509_STORE_add_cert(store, authority.pointer), "trust the CA")
                self._check(lib.X509_STORE_set_flags(store, _PARTIAL_CHAIN), "trust the CA as given")
            if ca_file and lib.X509_STORE_load_file(store, os.fsencode(ca_file)) != 1:
                return f"no certificate could be read from it ({self._reason()})"
            ctx = self._check(lib.X509_STORE_CTX_new(), "make a verification context")
            self._check(lib.X509_STORE_CTX_init(ctx, store, cert.pointer, None), "start the verification")
            if lib.X509_verify_cert(ctx) == 1:
                return None
            reason = lib.X509_verify_cert_error_string(lib.X509_STORE_CTX_get_error(ctx))
            lib.ERR_clear_error()
            return (reason or b"verification failed").decode(errors="replace")
        finally:
            if ctx:
                lib.X509_STORE_CTX_free(ctx)
            lib.X509_STORE_free(store)


class Key:
    """An EVP_PKEY, freed with this object."""

    __slots__ = ("crypto", "pointer")

    def __init__(self, crypto: Crypto, pointer: int) -> None:
        self.crypto = crypto
        self.pointer = pointer

    def __del__(self) -> None:
        self.crypto.lib.EVP_PKEY_free(self.pointer)

    def pem(self) -> bytes:
        """PKCS#8, unencrypted (``BEGIN PRIVATE KEY``), as ``openssl req -noenc`` writes."""
        with _MemoryOut(self.crypto) as out:
            self.crypto._check(
                self.crypto.lib.PEM_write_bio_PrivateKey(out.bio, self.pointer, None, None, 0, None, None),
                "write a key",
            )
            return out.data()


class Certificate:
    """An X509, freed with this object."""

    __slots__ = ("crypto", "pointer")

    def __init__(self, crypto: Crypto, pointer: int) -> None:
        self.crypto = crypto
        self.pointer = pointer

    def __del__(self) -> None:
        self.crypto.lib.X509_free(self.pointer)

    def pem(self) -> bytes:
        with _MemoryOut(self.crypto) as out:
            self.crypto._check(self.crypto.lib.PEM_write_bio_X509(out.bio, self.pointer), "write a certificate")
            return out.data()

    def valid_for(self, seconds: int) -> bool:
        """Whether notAfter lies more than ``seconds`` from now (``openssl x509 -checkend``).
        Compared as ASN1_TIMEs, not through time_t, whose width differs between ABIs."""
        lib = self.crypto.lib
        until = self.crypto._check(lib.X509_gmtime_adj(None, seconds), "compute a time")
        try:
            return bool(lib.ASN1_TIME_compare(lib.X509_get0_notAfter(self.pointer), until) > 0)
        finally:
            lib.ASN1_TIME_free(until)

    def matches(self, key: Key) -> bool:
        """Whether ``key`` is the private key of this certificate's public key."""
        matched = bool(self.crypto.lib.X509_check_private_key(self.pointer, key.pointer) == 1)
        self.crypto.lib.ERR_clear_error()
        return matched


class _MemoryIn:
    """A read-only memory BIO over ``data`` (which must outlive it: the BIO does not copy)."""

    def __init__(self, crypto: Crypto, data: bytes) -> None:
        self.crypto, self.data = crypto, data
        self.bio = crypto._check(crypto.lib.BIO_new_mem_buf(data, len(data)), "read memory")

    def __enter__(self) -> int:
        return self.bio

    def __exit__(self, *exc: object) -> None:
        self.crypto.lib.BIO_free(self.bio)


class _MemoryOut:
    """A growing memory BIO; ``data()`` is what was written to it."""

    def __init__(self, crypto: Crypto) -> None:
        self.crypto = crypto
        lib = crypto.lib
        self.bio = crypto._check(lib.BIO_new(lib.BIO_s_mem()), "make a memory buffer")

    def __enter__(self) -> _MemoryOut:
        return self

    def __exit__(self, *exc: object) -> None:
        self.crypto.lib.BIO_free(self.bio)

    def data(self) -> bytes:
        lib = self.crypto.lib
        size = lib.BIO_ctrl(self.bio, _BIO_CTRL_PENDING, 0, None)
        buffer = ctypes.create_string_buffer(size)
        read = lib.BIO_read(self.bio, buffer, size) if size else 0
        return buffer.raw[: max(read, 0)]
