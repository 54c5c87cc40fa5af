"""Fuzzed bad input (Hypothesis): argv and environment of the real dockerlaunch, each run in
a private mount, network and PID namespace (tests/testing/reliability.py).

Whatever the input: no traceback; a refusal is one `dockerlaunch: error: ... (hint: ...)`
line with exit 1 or 2; mountinfo is the same before and after. PATH has no engine, so an
input the parser accepts is refused by the pre-flight (exit 1) before the first mount.
DFS_FUZZ_EXAMPLES sets the number of examples per property (default 25: ~0.7 s each here).
"""

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.testing.fuzz import Tally, assert_contract, launcher_argv, launcher_env
from tests.testing.reliability import DOCKERLAUNCH, PLACEHOLDER, launch_in_namespace
from tests.testing.reliability import launcher_env as clean_env

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("DFS_FUZZ_EXAMPLES", "25"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # each example starts namespaces and a Python: ~0.5-1 s on a busy machine
    database=None,  # no .hypothesis directory in the checkout
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
RUN_TIMEOUT = 5.0  # an accepted input runs the place-holder; 5 s tells it apart


def run(argv: list[str], env: dict[str, str], tally: Tally) -> None:
    argv = [word.replace("{placeholder}", os.fspath(PLACEHOLDER)) for word in argv]
    outcome = launch_in_namespace([os.fspath(DOCKERLAUNCH), *argv], env=clean_env(**env), timeout=RUN_TIMEOUT)
    tally.add(outcome)
    assert_contract(outcome, f"argv {argv!r}, env {env!r}")


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Relative paths in fuzzed input land in the test's own directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_fuzz_launcher_argv_refuses_in_one_line(in_tmp: Path) -> None:
    """Any argv should give no traceback, and a refusal should be one line, exit 1 or 2, no mount."""
    tally = Tally()

    @FUZZ
    @given(argv=launcher_argv())
    def property_(argv: list[str]) -> None:
        run(argv, {}, tally)

    property_()
    print(tally.report("argv"))
    assert sum(tally.counts.values()) >= min(EXAMPLES, 10)


def test_fuzz_launcher_environment_refuses_in_one_line(in_tmp: Path) -> None:
    """Any DOCKER_LAUNCH_*, DOCKER_TLS_*, DOCKER_HOST values should keep the same contract."""
    tally = Tally()

    @FUZZ
    # Half the time the plainest argv, so that the environment alone decides the outcome.
    @given(env=launcher_env(), argv=st.one_of(st.just(["{placeholder}"]), launcher_argv()))
    def property_(env: dict[str, str], argv: list[str]) -> None:
        run(argv, env, tally)

    property_()
    print(tally.report("environment"))
    assert sum(tally.counts.values()) >= min(EXAMPLES, 10)
