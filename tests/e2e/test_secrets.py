"""Secrets: `--debug` logs carry no secret values and no private key, and the certificate
directory and key files keep their modes across restarts. The launcher's work, not the
engine's: the default suite's image only."""

import json

from tests.testing.engine import Dind, dind, docker

# Names with KEY, TOKEN, PASSWORD or SECRET (any case): their values must never be logged.
SECRETS = {
    "REGISTRY_TOKEN": "tok-7f3a9c1e",
    "DB_PASSWORD": "pw-b81d44aa",
    "AWS_SECRET_ACCESS_KEY": "sk-2c9e0f55",
    "api_key": "ak-91d0b3e7",
}
# A name with none of the words: this value stays readable.
PLAIN = {"SSO_URL": "sso-4e1b7d20"}
CERT_PATHS = [
    "/certs", "/certs/ca", "/certs/server", "/certs/client",
    "/certs/ca/key.pem", "/certs/server/key.pem", "/certs/client/key.pem",
    "/certs/ca/cert.pem", "/certs/server/cert.pem", "/certs/client/cert.pem",
]  # fmt: skip
# The image has no stat(1) or cat(1); its Python has os.
MODES = "import json, os, sys; print(json.dumps({p: oct(os.stat(p).st_mode & 0o7777) for p in sys.argv[1:]}))"
CAT = "import sys; sys.stdout.write(open(sys.argv[1]).read())"


def modes(daemon: Dind) -> dict[str, str]:
    return dict(json.loads(daemon.exec("python3", "-c", MODES, *CERT_PATHS).stdout))


def key_lines(daemon: Dind) -> list[str]:
    """The base64 lines of every private key the launcher made."""
    lines = []
    for directory in ("ca", "server", "client"):
        pem = daemon.exec("python3", "-c", CAT, f"/certs/{directory}/key.pem").stdout
        lines += [line for line in pem.splitlines() if line and not line.startswith("-----")]
    return lines


def test_secrets_debug_log_has_no_secret_values_or_keys(default_image: str) -> None:
    """With --debug, the log should show *** for secret values (SSO_URL's in clear) and no private key line."""
    environment = [word for name, value in {**SECRETS, **PLAIN}.items() for word in ("-e", f"{name}={value}")]
    args = ["--label", f"token={SECRETS['REGISTRY_TOKEN']}", "--label", f"pw={SECRETS['DB_PASSWORD']}",
            "--label", f"sso={PLAIN['SSO_URL']}"]  # fmt: skip
    with dind(default_image, *args, run_options=["-e", "DOCKER_LAUNCH_DEBUG=true", *environment]) as daemon:
        log = daemon.logs()
        ours = [line for line in log.splitlines() if line.startswith("dockerlaunch:")]
        assert any(line.startswith("dockerlaunch: debug: exec ") for line in ours), log[-3000:]
        for value in SECRETS.values():
            assert not [line for line in ours if value in line], value
        expected = f"--label token=*** --label pw=*** --label sso={PLAIN['SSO_URL']}"
        assert any(expected in line for line in ours), "\n".join(ours)
        lines = key_lines(daemon)
        assert len(lines) >= 3
        assert not [line for line in lines if line in log], "private key material in the log"
        assert "PRIVATE KEY" not in log


def test_secrets_certificate_modes_kept_across_restarts(default_image: str) -> None:
    """Key files should be 0600 (client 0644, as docker:dind) and every mode, a user's 0700 too, survive restarts."""
    with dind(default_image) as daemon:
        first = modes(daemon)
        assert (first["/certs/ca/key.pem"], first["/certs/server/key.pem"]) == ("0o600", "0o600"), first
        assert first["/certs/client/key.pem"] == "0o644", first  # docker:dind's, for clients sharing the volume
        daemon.exec("python3", "-c", "import os; os.chmod('/certs', 0o700); os.chmod('/certs/server', 0o700)")
        expected = {**first, "/certs": "0o700", "/certs/server": "0o700"}
        for _ in range(2):
            docker("restart", daemon.name, timeout=120)
            daemon.wait_ready()
            assert modes(daemon) == expected
