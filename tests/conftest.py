"""Shared fixtures: a clean launcher environment for every test, and mode fixtures."""

import os
from collections.abc import Iterator

import pytest

from tests.testing.engine import engine_available


@pytest.fixture(autouse=True)
def clean_launcher_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No DOCKER_LAUNCH_* or docker:dind variable from the caller leaks into a test."""
    for name in list(os.environ):
        if name.startswith(("DOCKER_LAUNCH_", "DOCKER_TLS_", "DOCKER_IPTABLES_")):
            monkeypatch.delenv(name)


@pytest.fixture(params=[False, True], ids=["debug-off", "debug-on"])
def both_debug_modes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[bool]:
    """Run the test once with DOCKER_LAUNCH_DEBUG unset and once with it true."""
    if request.param:
        monkeypatch.setenv("DOCKER_LAUNCH_DEBUG", "true")
    yield request.param


@pytest.fixture(params=[False, True], ids=["reap-off", "reap-on"])
def both_reap_modes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[bool]:
    """Run the test once with DOCKER_LAUNCH_REAP=false and once with it true."""
    monkeypatch.setenv("DOCKER_LAUNCH_REAP", "true" if request.param else "false")
    yield request.param


@pytest.fixture(scope="session")
def engine() -> None:
    """The host Docker engine; scripts/setup starts it, so a silent engine is a failure."""
    if not engine_available():
        pytest.fail("the host Docker engine does not answer: run scripts/setup (it starts dockerd)")
