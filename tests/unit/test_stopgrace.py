"""The stop grace: derived from the stop budget, tuned, turned off, refused; and
`dockerlaunch --stop-nested [S]`, the waiter's call and the preStop hook."""

from pathlib import Path

import pytest

from docker_from_scratch.launcher import stopgrace
from docker_from_scratch.launcher.args import parse
from docker_from_scratch.launcher.errors import UsageError


def test_stopgrace_pre_stop_grace_defaults_to_docker_stop() -> None:
    """Without a number the hook should give each nested container docker stop's 10 s."""
    assert stopgrace.pre_stop_grace([]) == 10
    assert stopgrace.pre_stop_grace(["25"]) == 25


@pytest.mark.parametrize("argv", [["soon"], ["-1"], ["1.5"], ["5", "10"]])
def test_stopgrace_pre_stop_grace_rejects_anything_but_one_whole_number(argv: list[str]) -> None:
    """A bad argument should be a usage error (exit 2) naming --stop-nested and an example."""
    with pytest.raises(UsageError, match="--stop-nested") as raised:
        stopgrace.pre_stop_grace(argv)
    assert raised.value.exit_status == 2 and "--stop-nested 20" in raised.value.one_line()


def test_stopgrace_pre_stop_without_dockerd_succeeds(tmp_path: Path) -> None:
    """With no dockerd on the socket the hook should have nothing to stop and return 0 at once."""
    env = {"DOCKER_HOST": f"unix://{tmp_path / 'docker.sock'}"}
    assert stopgrace.pre_stop(["3"], env) == 0


@pytest.fixture
def dockerd_path(tmp_path: Path) -> dict[str, str]:
    dockerd = tmp_path / "dockerd"
    dockerd.write_text("#!/bin/sh\n")
    dockerd.chmod(0o755)
    return {"PATH": str(tmp_path)}


def test_stop_grace_default_fits_docker_default_timeout(dockerd_path: dict[str, str]) -> None:
    """Without settings the grace should leave dockerd MARGIN_S of docker's default 10 s."""
    assert parse(["dockerd"], dockerd_path).stop_grace == 10 - stopgrace.MARGIN_S


def test_stop_grace_follows_a_longer_stop_timeout(dockerd_path: dict[str, str]) -> None:
    """DOCKER_LAUNCH_STOP_TIMEOUT=30 (and --stop-timeout 30) should give a 26 s grace."""
    assert parse(["dockerd"], {**dockerd_path, "DOCKER_LAUNCH_STOP_TIMEOUT": "30"}).stop_grace == 26
    assert parse(["--stop-timeout", "30", "dockerd"], dockerd_path).stop_grace == 26


def test_stop_grace_explicit_value_wins(dockerd_path: dict[str, str]) -> None:
    """An explicit grace should win over the one derived from the budget."""
    env = {**dockerd_path, "DOCKER_LAUNCH_STOP_TIMEOUT": "30", "DOCKER_LAUNCH_STOP_GRACE": "3"}
    assert parse(["dockerd"], env).stop_grace == 3
    assert parse(["--stop-grace=2", "dockerd"], env).stop_grace == 2


def test_stop_grace_off_turns_it_off(dockerd_path: dict[str, str]) -> None:
    """DOCKER_LAUNCH_STOP_GRACE=off (and --stop-grace off) should leave the stop to dockerd."""
    assert parse(["dockerd"], {**dockerd_path, "DOCKER_LAUNCH_STOP_GRACE": "off"}).stop_grace is None
    assert parse(["--stop-grace", "OFF", "dockerd"], dockerd_path).stop_grace is None


def test_stop_grace_never_below_one_second() -> None:
    """A budget shorter than the margin should still give nested containers 1 s."""
    assert stopgrace.grace_for_budget(2) == 1


@pytest.mark.parametrize(
    "env",
    [{"DOCKER_LAUNCH_STOP_GRACE": "soon"}, {"DOCKER_LAUNCH_STOP_TIMEOUT": "0"}, {"DOCKER_LAUNCH_STOP_TIMEOUT": "-5"}],
)
def test_stop_grace_bad_values_are_usage_errors(dockerd_path: dict[str, str], env: dict[str, str]) -> None:
    """A stop grace or budget that is no number of seconds should be a usage error naming the fix."""
    with pytest.raises(UsageError, match=r"is not a number of seconds") as caught:
        parse(["dockerd"], {**dockerd_path, **env})
    assert "hint" in caught.value.one_line()


def test_stop_grace_waiter_argv_quotes_the_stop_command() -> None:
    """The waiter's script should name the launcher's --stop-dockerd form with grace and socket quoted."""
    argv = stopgrace.waiter_argv("/usr/bin/dash", 6, "/run/it's.sock", ["/usr/bin/dockerd", "--debug"])
    assert argv[:2] == ["/usr/bin/dash", "-c"] and argv[-2:] == ["/usr/bin/dockerd", "--debug"]
    assert "DOCKER_HOST='unix:///run/it'\"'\"'s.sock' " in argv[2] and "'--stop-dockerd' '6' \"$!\" \"$1\"" in argv[2]


def test_stop_grace_asked_only_when_the_user_sets_it(dockerd_path: dict[str, str]) -> None:
    """The derived default should not count as asked for (the rootless path warns only then)."""
    assert parse(["dockerd"], dockerd_path).stop_grace_asked is False
    assert parse(["--stop-grace", "3", "dockerd"], dockerd_path).stop_grace_asked is True
    assert parse(["dockerd"], {**dockerd_path, "DOCKER_LAUNCH_STOP_TIMEOUT": "30"}).stop_grace_asked is True


def test_stop_grace_waiter_prefers_mksh_static_then_dash(tmp_path: Path) -> None:
    """The waiter should be mksh-static when PATH has it, else dash, else none (the launcher waits itself)."""
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    assert stopgrace.find_waiter(f"{first}:{second}") is None
    (first / "dash").write_text("")
    (first / "dash").chmod(0o755)
    assert stopgrace.find_waiter(f"{first}:{second}") == f"{first}/dash"
    (second / "mksh-static").write_text("")
    (second / "mksh-static").chmod(0o755)
    assert stopgrace.find_waiter(f"{first}:{second}") == f"{second}/mksh-static"
