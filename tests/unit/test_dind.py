"""docker:dind's argument convention: which program runs, with which default hosts."""

import pytest

from docker_from_scratch.launcher.dind import Plan, names_host, plan
from docker_from_scratch.launcher.errors import UsageError

SOCKET = "--host=unix:///var/run/docker.sock"
TLS_DEFAULTS = (
    SOCKET,
    "--host=tcp://0.0.0.0:2376",
    "--tlsverify",
    "--tlscacert", "/certs/server/ca.pem",
    "--tlscert", "/certs/server/cert.pem",
    "--tlskey", "/certs/server/key.pem",
)  # fmt: skip
PLAIN_DEFAULTS = (SOCKET, "--host=tcp://0.0.0.0:2375", "--tls=false")
IMAGE_ENV = {"DOCKER_TLS_CERTDIR": "/certs", "PATH": "/usr/sbin:/usr/bin"}
NO_TLS_ENV = {"DOCKER_TLS_CERTDIR": "", "PATH": "/usr/sbin:/usr/bin"}


def dockerd_plan(*argv: str, env: dict[str, str] | None = None) -> Plan:
    return plan(list(argv), IMAGE_ENV if env is None else env, dockerd="/usr/bin/dockerd")


def test_plan_no_arguments_adds_tls_defaults() -> None:
    """With no arguments the daemon should get the socket, port 2376 and the server certs."""
    result = dockerd_plan()
    assert result.action == "dockerd"
    assert result.argv == ("/usr/bin/dockerd", *TLS_DEFAULTS)
    assert result.defaults == TLS_DEFAULTS
    assert result.tls_certdir == "/certs"
    assert result.socket_path == "/var/run/docker.sock"


def test_plan_options_follow_the_defaults() -> None:
    """Arguments starting with an option should come after the defaults, unchanged."""
    result = dockerd_plan("--mtu", "1400", "--debug")
    assert result.argv == ("/usr/bin/dockerd", *TLS_DEFAULTS, "--mtu", "1400", "--debug")


def test_plan_seed_forms_get_the_defaults() -> None:
    """The seed's CMD forms (after the seed words are dropped) should keep their options last."""
    assert dockerd_plan("-s", "overlay").argv[-2:] == ("-s", "overlay")
    bridge = dockerd_plan("--bip", "192.0.2.1/24", "-b", "br0")
    assert bridge.argv == ("/usr/bin/dockerd", *TLS_DEFAULTS, "--bip", "192.0.2.1/24", "-b", "br0")


def test_plan_empty_certdir_listens_on_2375_without_tls() -> None:
    """DOCKER_TLS_CERTDIR='' should give port 2375, TLS explicitly off, no certificate step."""
    result = dockerd_plan("--debug", env=NO_TLS_ENV)
    assert result.argv == ("/usr/bin/dockerd", *PLAIN_DEFAULTS, "--debug")
    assert result.tls_certdir is None
    assert [arg for arg in result.argv if arg.startswith("--tls")] == ["--tls=false"]


def test_plan_unset_certdir_means_image_default() -> None:
    """An environment without DOCKER_TLS_CERTDIR should get TLS under /certs, not port 2375."""
    result = plan([], {}, dockerd="dockerd")
    assert result.argv == ("dockerd", *TLS_DEFAULTS)
    assert result.tls_certdir == "/certs"


def test_plan_other_certdir_names_its_server_files() -> None:
    """A custom DOCKER_TLS_CERTDIR should be used for the three server file flags."""
    result = dockerd_plan(env={"DOCKER_TLS_CERTDIR": "/etc/docker/tls/"})
    assert result.tls_certdir == "/etc/docker/tls"
    assert "/etc/docker/tls/server/cert.pem" in result.argv
    assert "/etc/docker/tls/server/ca.pem" in result.argv
    assert "/etc/docker/tls/server/key.pem" in result.argv


def test_plan_relative_certdir_is_a_usage_error() -> None:
    """A relative DOCKER_TLS_CERTDIR should be refused with one line naming the variable."""
    with pytest.raises(UsageError, match="DOCKER_TLS_CERTDIR='certs' is not an absolute path"):
        dockerd_plan(env={"DOCKER_TLS_CERTDIR": "certs"})


@pytest.mark.parametrize(
    "docker_host, expected",
    [
        ("unix:///run/user-docker.sock", "--host=unix:///run/user-docker.sock"),
        ("tcp://192.0.2.5:2376", SOCKET),
        ("ssh://user@192.0.2.5", SOCKET),
        ("", SOCKET),
    ],
)
def test_plan_docker_host_honoured_only_when_unix(docker_host: str, expected: str) -> None:
    """DOCKER_HOST should replace the default socket only when it is unix://PATH."""
    result = dockerd_plan(env={**IMAGE_ENV, "DOCKER_HOST": docker_host})
    assert result.argv[1] == expected
    assert result.socket_path == expected.removeprefix("--host=unix://")


def test_plan_docker_host_without_path_is_a_usage_error() -> None:
    """DOCKER_HOST=unix:// with no path should be refused, not passed to dockerd."""
    with pytest.raises(UsageError, match="names no socket path"):
        dockerd_plan(env={**IMAGE_ENV, "DOCKER_HOST": "unix://"})


@pytest.mark.parametrize("word", ["dockerd", "/usr/bin/dockerd", "/usr/local/bin/dockerd"])
def test_plan_dockerd_word_keeps_program_and_adds_defaults(word: str) -> None:
    """A first argument dockerd (or a path to it) should run that program, defaults first."""
    result = dockerd_plan(word, "--debug")
    assert result.action == "dockerd"
    assert result.argv == (word, *TLS_DEFAULTS, "--debug")


def test_plan_dockerd_word_alone() -> None:
    """`IMAGE dockerd` with nothing after should be the same as no arguments."""
    assert dockerd_plan("dockerd").argv == ("dockerd", *TLS_DEFAULTS)


@pytest.mark.parametrize(
    "argv",
    [
        ["sh"],
        ["sh", "-c", "docker ps"],
        ["docker", "version"],
        ["/usr/bin/python3", "-c", "print(1)"],
        ["dockerd-rootless.sh"],
        ["notdockerd", "--debug"],
    ],
)
def test_plan_other_command_runs_as_is(argv: list[str]) -> None:
    """Anything that is neither an option nor dockerd should be run unchanged, without TLS."""
    result = dockerd_plan(*argv)
    assert result.action == "exec"
    assert result.argv == tuple(argv)
    assert result.tls_certdir is None
    assert result.defaults == ()


def test_plan_exec_ignores_a_bad_environment() -> None:
    """Running another command should not depend on DOCKER_TLS_CERTDIR or DOCKER_HOST."""
    env = {"DOCKER_TLS_CERTDIR": "relative", "DOCKER_HOST": "unix://"}
    assert plan(["sh"], env).argv == ("sh",)


@pytest.mark.parametrize(
    "argv",
    [
        ["-H", "tcp://0.0.0.0:9999"],
        ["-Htcp://0.0.0.0:9999"],
        ["--host", "unix:///run/docker/docker.sock"],
        ["--host=unix:///run/docker/docker.sock", "--group=1001"],
        ["--debug", "-H", "fd://"],
        ["-DH", "tcp://127.0.0.1:2375"],
        ["dockerd", "--host=unix:///run/docker/docker.sock"],
    ],
)
def test_plan_user_hosts_get_no_defaults(argv: list[str]) -> None:
    """When the user names a host, no default host or TLS flag should be added."""
    result = dockerd_plan(*argv)
    assert result.action == "dockerd"
    assert result.defaults == ()
    assert result.argv[1:] == tuple(argv[1:] if argv[0] == "dockerd" else argv)


def test_plan_user_hosts_still_make_certificates() -> None:
    """Certificates should still be prepared so user flags can point at $DOCKER_TLS_CERTDIR."""
    result = dockerd_plan("--host=tcp://0.0.0.0:2376", "--tlsverify")
    assert result.tls_certdir == "/certs"


def test_plan_user_unix_host_is_the_socket_to_ping() -> None:
    """The first unix:// host the user names should be the socket the health check pings."""
    result = dockerd_plan("-H", "tcp://0.0.0.0:2375", "--host=unix:///run/docker/docker.sock")
    assert result.socket_path == "/run/docker/docker.sock"
    assert dockerd_plan("-H", "tcp://0.0.0.0:2375").socket_path is None


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["-s", "overlay2"], False),
        (["-sH"], False),  # -s takes the rest of the word as its value
        (["--hostname-override", "x"], False),
        (["--", "-H"], False),
        (["-D", "-H", "fd://"], True),
        (["-vH", "x"], True),
        (["--host=x"], True),
    ],
)
def test_names_host_reads_shorthand_clusters(argv: list[str], expected: bool) -> None:
    """Only a real -H/--host option (also inside -DH) should count as a user host."""
    assert names_host(argv) is expected


def test_plan_passes_tls_san_through() -> None:
    """DOCKER_TLS_SAN should reach the certificate step unchanged."""
    result = dockerd_plan(env={**IMAGE_ENV, "DOCKER_TLS_SAN": "DNS:ci.example IP:192.0.2.7"})
    assert result.tls_san == "DNS:ci.example IP:192.0.2.7"


def test_plan_describe_names_program_and_defaults() -> None:
    """The log line should name the program, the added hosts and the reason."""
    line = dockerd_plan(env=NO_TLS_ENV).describe()
    assert line.startswith("/usr/bin/dockerd with --host=unix:///var/run/docker.sock")
    assert "2375" in line and "no arguments" in line
    assert dockerd_plan("sh").describe().startswith("exec sh (")
