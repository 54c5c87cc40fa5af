"""The launcher's log never carries secret values or private keys."""

import pytest

from docker_from_scratch.launcher import log

KEY = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBs3cr3tK3yMaterial\n-----END EC PRIVATE KEY-----"
CERT = "-----BEGIN CERTIFICATE-----\nMIIBcertificate\n-----END CERTIFICATE-----"


def test_redaction_secret_values_from_names_with_secret_words() -> None:
    """Values of variables named with KEY, TOKEN, PASSWORD or SECRET (any case) should be found, others not."""
    env = {"API_KEY": "k-value", "gh_token": "t-value", "DB_PASSWORD": "p-value", "MY_SECRET_X": "s-value",
           "DOCKER_TLS_SAN": "DNS:visible", "EMPTY_TOKEN": ""}  # fmt: skip
    assert sorted(log.secret_values(env)) == ["k-value", "p-value", "s-value", "t-value"]


@pytest.mark.parametrize(
    "name",
    ["KEY", "API_KEY", "AWS_SECRET_ACCESS_KEY", "gh-token", "app.secrets", "SSH_KEYS", "PGPASSWORD", "APIKEY",
     "apiKey", "dbPassword", "TOKEN1", "KEYCLOAK_URL"],
)  # fmt: skip
def test_redaction_secret_name_holds_a_secret_word_anywhere(name: str) -> None:
    """A name holding KEY, TOKEN, PASSWORD or SECRET anywhere, in any case, should be secret."""
    assert log.is_secret_name(name)


@pytest.mark.parametrize("name", ["DOCKER_TLS_SAN", "HOME", "SSO_URL", "PASSWD_FILE"])
def test_redaction_names_without_a_secret_word_are_not_secret(name: str) -> None:
    """A name holding none of the four words should keep its value readable."""
    assert not log.is_secret_name(name)


def test_redaction_keeps_values_of_other_variables() -> None:
    """An SSO_URL should stay readable in the log while API_KEY's value is hidden."""
    env = {"SSO_URL": "https://sso.example", "API_KEY": "k-value"}
    assert log.secret_values(env) == ["k-value"]
    redacted = log.redact("sso https://sso.example key k-value", log.secret_values(env))
    assert redacted == "sso https://sso.example key ***"


def test_redaction_replaces_every_occurrence_longest_first() -> None:
    """Each secret should become *** wherever it appears, a longer one before its prefix."""
    line = "exec dockerd --label a=hunter2xx --label b=hunter2"
    assert log.redact(line, ["hunter2xx", "hunter2"]) == "exec dockerd --label a=*** --label b=***"


def test_redaction_removes_private_key_blocks_but_keeps_certificates() -> None:
    """A PEM private key should be replaced whole; a certificate is public and stays."""
    redacted = log.redact(f"openssl said:\n{KEY}\nand\n{CERT}\nend", [])
    assert "Material" not in redacted and "PRIVATE KEY" not in redacted
    assert "[private key redacted]" in redacted and CERT in redacted and redacted.endswith("end")


def test_redaction_applies_to_every_level(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """debug, info, warn and error lines should all be redacted on their way to stderr."""
    monkeypatch.setattr(log, "_secret_values", ["s3cr3t"])
    monkeypatch.setitem(log._state, "debug", True)
    for write in (log.debug, log.info, log.warn, log.error):
        write(f"value s3cr3t {KEY}")
    err = capsys.readouterr().err
    assert "s3cr3t" not in err and "Material" not in err and err.count("value *** [private key redacted]") == 4
