"""nft or legacy, decided for real in a fresh network namespace with the machine's iptables tools."""

import os
import shutil
from typing import Any

import pytest

from docker_from_scratch.launcher import iptables, run, syscalls
from tests.testing.namespaces import run_in_namespace

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not all(shutil.which(tool, path="/usr/sbin:/sbin") for tool in ("iptables", "iptables-legacy-save")),
        reason="needs iptables (nft) and iptables-legacy",
    ),
]
SBIN = "/usr/sbin:/usr/bin:/sbin:/bin"


def choose_twice(root: str, setup: list[list[str]], env: dict[str, str]) -> list[Any]:
    """Run setup commands (legacy rules etc.) in this network namespace, then choose twice."""
    os.mkdir(os.path.join(root, "proc"))  # /proc/net/*_tables_names are read under root
    syscalls.mount("proc", os.path.join(root, "proc"), "proc")
    for argv in setup:
        run.run(argv)
    env = {"PATH": SBIN, **env}
    first = iptables.choose_mode(env, root)
    links = sorted(os.listdir(os.path.join(root, iptables.LEGACY_DIR.lstrip("/")))) if first.mode == "legacy" else []
    second = iptables.choose_mode(env, root)
    version = run.run(["iptables", "--version"], env={"PATH": first.path}).stdout.strip()
    return [first.mode, first.reason, first.path, second.path, links, version]


def choose_after_early_probe(root: str, setup: list[list[str]], env: dict[str, str]) -> list[Any]:
    """As the launcher does: `iptables -nL` started before the setup in between, taken in the step."""
    os.mkdir(os.path.join(root, "proc"))
    syscalls.mount("proc", os.path.join(root, "proc"), "proc")
    env = {"PATH": SBIN, **env}
    early = iptables.start_probe(env)
    for argv in setup:
        run.run(argv)
    choice = iptables.choose_mode(env, root, early=early)
    return [choice.mode, choice.reason, early is not None]


def choose(setup: list[list[str]], env: dict[str, str] | None = None, *, early: bool = False) -> list[Any]:
    function = choose_after_early_probe if early else choose_twice
    result = run_in_namespace(function, setup, env or {}, net=True)
    assert result.error is None, result.log
    assert isinstance(result.value, list)
    return result.value


def test_iptables_fresh_namespace_uses_nft() -> None:
    """No legacy table in use and a working iptables-nft: nft, PATH unchanged, logged at info."""
    mode, reason, path, again, links, version = choose([])
    assert (mode, path, again, links) == ("nft", SBIN, SBIN, [])
    assert "nf_tables" in version and "iptables -nL works" in reason


def test_iptables_legacy_rules_choose_legacy_links_first_on_path() -> None:
    """Existing legacy rules: legacy, its link directory first on PATH, iptables there is legacy; twice alike."""
    mode, _reason, path, again, links, version = choose(
        [["iptables-legacy", "-t", "nat", "-A", "POSTROUTING", "-s", "192.0.2.0/24", "-j", "MASQUERADE"]]
    )
    assert mode == "legacy"
    assert path.split(":")[0].endswith(iptables.LEGACY_DIR) and again == path
    assert {"iptables", "iptables-save", "iptables-restore"} <= set(links)
    assert "legacy" in version


def test_iptables_empty_legacy_table_does_not_count() -> None:
    """A legacy table created by a mere listing (no rules) should not force legacy."""
    mode, reason, *_ = choose([["iptables-legacy", "-nL"]])
    assert mode == "nft", reason


@pytest.mark.parametrize(("value", "expected"), [("1", "legacy"), ("", "nft")])
def test_iptables_override_wins(value: str, expected: str) -> None:
    """DOCKER_IPTABLES_LEGACY decides when set: non-empty legacy, empty nft (even with legacy rules)."""
    setup = [["iptables-legacy", "-A", "INPUT", "-s", "192.0.2.1", "-j", "ACCEPT"]]
    mode, reason, *_ = choose(setup, {iptables.OVERRIDE: value})
    assert mode == expected and iptables.OVERRIDE in reason


def test_iptables_early_probe_answers_the_step() -> None:
    """An early `iptables -nL` that works should decide nft in the step."""
    mode, reason, probed = choose([], early=True)
    assert (mode, probed) == ("nft", True) and "iptables -nL works" in reason


def test_iptables_early_probe_does_not_outrank_legacy_rules() -> None:
    """Legacy rules made after the early probe started should still choose legacy."""
    mode, reason, probed = choose(
        [["iptables-legacy", "-t", "nat", "-A", "POSTROUTING", "-s", "192.0.2.0/24", "-j", "MASQUERADE"]], early=True
    )
    assert (mode, probed) == ("legacy", True) and "legacy tables hold rules" in reason


def test_iptables_early_probe_is_skipped_when_the_user_decides() -> None:
    """DOCKER_IPTABLES_LEGACY set should start no early probe."""
    mode, _reason, probed = choose([], {"DOCKER_IPTABLES_LEGACY": "1"}, early=True)
    assert (mode, probed) == ("legacy", False)
