"""`dockerlaunch --stop-nested [S]`, the preStop hook: its argument, and a dockerd that is gone."""

from pathlib import Path

import pytest

from docker_from_scratch.launcher import stopgrace
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
