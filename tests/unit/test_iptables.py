"""iptables decisions from fixture files: /proc/net/*_tables_names and iptables-legacy-save output.

The fixtures were produced with the real tools in a throw-away network namespace: an
`iptables-legacy -nL` only (an empty filter table), docker-like rules, a DROP policy.
"""

import shutil
from pathlib import Path

import pytest

from docker_from_scratch.launcher import iptables

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def fake_proc_net(root: Path, ip: str, ip6: str = "iptables_names_none.txt") -> None:
    """A root whose proc/net holds copies of the names fixtures (no /proc is mounted there)."""
    net = root / "proc" / "net"
    net.mkdir(parents=True)
    shutil.copy(FIXTURES / ip, net / "ip_tables_names")
    shutil.copy(FIXTURES / ip6, net / "ip6_tables_names")


def test_iptables_parse_table_names_one_per_line() -> None:
    """The names file lists one table per line; an empty file lists none."""
    assert iptables.parse_table_names(fixture("iptables_names_rules.txt")) == ["nat", "filter"]
    assert iptables.parse_table_names(fixture("iptables_names_none.txt")) == []


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("iptables_legacy_save_empty.txt", False),
        ("iptables_legacy_save_rules.txt", True),
        ("iptables_legacy_save_policy.txt", True),
    ],
)
def test_iptables_save_has_rules(name: str, expected: bool) -> None:
    """Only rules, user chains or a non-ACCEPT policy should count as legacy being in use."""
    assert iptables.save_has_rules(fixture(name)) is expected


def test_iptables_legacy_tables_reads_names_under_root(tmp_path: Path) -> None:
    """legacy_tables(root) should read root/proc/net and report only files that list tables."""
    fake_proc_net(tmp_path, "iptables_names_rules.txt")
    assert iptables.legacy_tables(str(tmp_path)) == {"/proc/net/ip_tables_names": ["nat", "filter"]}


def test_iptables_legacy_in_use_no_tables_needs_no_tool(tmp_path: Path) -> None:
    """With no legacy table listed the answer is 'not in use' without looking for any program."""
    fake_proc_net(tmp_path, "iptables_names_none.txt")
    assert iptables.legacy_in_use(str(tmp_path), {"PATH": ""}) is None


def test_iptables_legacy_in_use_trusts_names_without_save_tool(tmp_path: Path) -> None:
    """Tables listed but no iptables-legacy-save to look inside: in use, as docker:dind decides."""
    fake_proc_net(tmp_path, "iptables_names_empty_tables.txt")
    reason = iptables.legacy_in_use(str(tmp_path), {"PATH": str(tmp_path / "empty-bin")})
    assert reason is not None and "filter" in reason


def test_iptables_disabled_changes_nothing(tmp_path: Path) -> None:
    """With --iptables=false the PATH only gains the sbin directories and no directory is made."""
    choice = iptables.choose_mode({"PATH": "/usr/bin"}, str(tmp_path), enabled=False)
    assert choice.mode == "skipped"
    assert choice.path == "/usr/bin:/usr/sbin:/sbin"
    assert list(tmp_path.iterdir()) == []
