"""Our certificates against docker:dind's recipe, in our image.

Run by the image's interpreter (standard library only):
``python3 -IS /bench/tls_race.py RUNS OPENSSL_DIR``.
Prints one JSON line: milliseconds per run of each recipe, first start and restart.

docker:dind's recipe is ``_tls_generate_certs`` of docker-library/docker's
``dockerd-entrypoint.sh`` (three ``openssl genrsa 4096`` keys, a CA certificate, server
and client CSRs signed with ``openssl x509 -req``, each verified), reproduced command by
command; its ``mkdir``, ``cat >`` and ``cp`` become Python calls, which only makes it a
little faster than under sh. Our image has no openssl CLI (the launcher calls libcrypto),
so the recipe runs the build host's openssl with its own libssl and libcrypto, which
fig_tls mounts in OPENSSL_DIR; no openssl.cnf and no system trust store, as in ours.
Both recipes get the same subjectAltName entries.
"""

import json
import os
import shutil
import sys
import time
from collections.abc import Callable

from docker_from_scratch.launcher import run, tls

DAYS = "825"


def openssl_env(directory: str) -> dict[str, str]:
    """The host's openssl in ``directory``, its libraries beside it, no config, no trust store."""
    return {
        "PATH": directory,
        "LD_LIBRARY_PATH": directory,
        "OPENSSL_CONF": "/dev/null",
        "SSL_CERT_FILE": "/dev/null",
        "SSL_CERT_DIR": "/dev/null",
    }


def openssl(env: dict[str, str], *args: str) -> None:
    # The launcher's door: the image's Python has no subprocess module.
    run.run(["openssl", *args], env=env)


def dind_recipe(directory: str, san: str, env: dict[str, str]) -> None:
    """docker:dind's _tls_generate_certs, for a directory with or without keys (restart)."""
    ca, server, client = (os.path.join(directory, d) for d in ("ca", "server", "client"))

    def ensure_private(path: str) -> None:
        if not (os.path.exists(path) and os.path.getsize(path) > 0):
            openssl(env, "genrsa", "-out", path, "4096")

    os.makedirs(ca, exist_ok=True)
    ensure_private(f"{ca}/key.pem")
    openssl(env, "req", "-new", "-key", f"{ca}/key.pem", "-out", f"{ca}/cert.pem", "-subj", "/CN=docker:dind CA",
            "-x509", "-days", DAYS, "-addext", "keyUsage=critical,digitalSignature,keyCertSign")  # fmt: skip
    for leaf, extensions in (
        (server, f"extendedKeyUsage = serverAuth\nsubjectAltName = {san}\n"),
        (client, "extendedKeyUsage = clientAuth\n"),
    ):
        os.makedirs(leaf, exist_ok=True)
        ensure_private(f"{leaf}/key.pem")
        if leaf == client:
            os.chmod(f"{leaf}/key.pem", 0o644)
        name = os.path.basename(leaf)
        openssl(env, "req", "-new", "-key", f"{leaf}/key.pem", "-out", f"{leaf}/csr.pem",
                "-subj", f"/CN=docker:dind {name}")  # fmt: skip
        with open(f"{leaf}/openssl.cnf", "w") as handle:
            handle.write("[ x509_exts ]\n" + extensions)
        openssl(env, "x509", "-req", "-in", f"{leaf}/csr.pem", "-CA", f"{ca}/cert.pem", "-CAkey", f"{ca}/key.pem",
                "-CAcreateserial", "-out", f"{leaf}/cert.pem", "-days", DAYS,
                "-extfile", f"{leaf}/openssl.cnf", "-extensions", "x509_exts")  # fmt: skip
        shutil.copyfile(f"{ca}/cert.pem", f"{leaf}/ca.pem")
        openssl(env, "verify", "-CAfile", f"{leaf}/ca.pem", f"{leaf}/cert.pem")


def timed_ms(action: Callable[..., object], *args: object) -> float:
    started = time.monotonic()
    action(*args)
    return (time.monotonic() - started) * 1000


def main() -> None:
    runs = int(sys.argv[1])
    env = openssl_env(sys.argv[2])
    san = ",".join(tls.server_sans())
    found: dict[str, list[float]] = {"ours": [], "dind": [], "ours_restart": [], "dind_restart": []}
    for index in range(runs):
        ours_dir, dind_dir = f"/tmp/ours-{index}", f"/tmp/dind-{index}"
        found["ours"].append(timed_ms(tls.ensure_certificates, ours_dir))
        found["dind"].append(timed_ms(dind_recipe, dind_dir, san, env))
        found["ours_restart"].append(timed_ms(tls.ensure_certificates, ours_dir))
        found["dind_restart"].append(timed_ms(dind_recipe, dind_dir, san, env))
        for directory in (ours_dir, dind_dir):
            shutil.rmtree(directory)
    version = run.run(["openssl", "version"], env=env).stdout
    print(json.dumps({**found, "openssl": version.strip(), "san": san}))


if __name__ == "__main__":
    main()
