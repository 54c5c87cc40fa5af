"""apt for any suite: the host's mirror, the suite mapping and .deb names (no network)."""

from pathlib import Path

import pytest

from docker_from_scratch.builder.apt import (
    AptRepo,
    DebRef,
    SourceEntry,
    expired_release,
    parse_deb822_sources,
    parse_one_line_sources,
    source_lines,
)
from docker_from_scratch.builder.errors import BuildError

FIXTURES = Path(__file__).parent / "fixtures"

DEB822 = """\
Types: deb
# a comment line
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://mirror.example/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
Enabled: yes
"""


def test_deb822_sources_keep_deb_stanzas_only() -> None:
    """deb822 parsing should return the binary sources with all their suites."""
    entries = parse_deb822_sources(DEB822)
    assert entries == [
        SourceEntry("http://mirror.example/debian", ("bookworm", "bookworm-updates")),
        SourceEntry("http://mirror.example/debian-security", ("bookworm-security",)),
    ]


def test_one_line_sources_skip_options_and_comments() -> None:
    """sources.list lines with [options] should parse; deb-src and comments are skipped."""
    text = (
        "# x\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://m.example/debian bookworm main\n"
        "deb-src http://m.example/debian bookworm main\n"
    )
    assert parse_one_line_sources(text) == [SourceEntry("http://m.example/debian", ("bookworm",))]


def test_source_lines_map_the_host_codename_to_the_suite() -> None:
    """bookworm, bookworm-updates, bookworm-security should become trixie's, same URIs, signed-by."""
    lines = source_lines("trixie", entries=parse_deb822_sources(DEB822), codename="bookworm")
    assert [line.split()[2:4] for line in lines] == [
        ["http://mirror.example/debian", "trixie"],
        ["http://mirror.example/debian", "trixie-updates"],
        ["http://mirror.example/debian-security", "trixie-security"],
    ]
    assert all("signed-by=/usr/share/keyrings/debian-archive-keyring.gpg" in line for line in lines)


def test_source_lines_mirror_overrides_the_host() -> None:
    """--mirror should give exactly one source for the suite."""
    lines = source_lines("bookworm", mirror="http://other.example/debian", entries=[], codename="x")
    assert len(lines) == 1 and lines[0].endswith("http://other.example/debian bookworm main")


def test_source_lines_without_debian_sources_names_the_fix() -> None:
    """No usable host source should fail with the --mirror hint."""
    with pytest.raises(BuildError) as error:
        source_lines("trixie", entries=[SourceEntry("http://x.example/other", ("stable",))], codename="bookworm")
    assert error.value.hint is not None and "--mirror" in error.value.hint


def test_deb_filename_encodes_the_epoch_like_apt() -> None:
    """The cache key should be apt's own file name, epoch colon as %3a."""
    assert DebRef("git", "1:2.47.3-0+deb13u1", "amd64").filename == "git_1%3a2.47.3-0+deb13u1_amd64.deb"


def test_source_lines_sid_has_no_updates_or_security_suites() -> None:
    """sid should map only the host's main suite: unstable has no -updates or -security."""
    lines = source_lines("sid", entries=parse_deb822_sources(DEB822), codename="bookworm")
    assert [line.split()[2:4] for line in lines] == [["http://mirror.example/debian", "sid"]]


def test_expired_release_names_the_cause_and_the_opt_in() -> None:
    """apt's real "Release file ... is expired" output should become one line naming --allow-expired-release."""
    # Captured from apt-get update of forky on this machine's mirror (exit status 100).
    error = expired_release((FIXTURES / "apt_update_expired.txt").read_text())
    assert error is not None
    assert str(error).startswith(
        "the mirror's Release file http://deb.debian.org/debian/dists/forky/InRelease is expired"
    )
    assert "Valid-Until" in str(error) and "\n" not in str(error)
    assert error.hint is not None and "--allow-expired-release" in error.hint and "signatures" in error.hint


def test_expired_release_leaves_other_apt_failures_alone() -> None:
    """Any other apt failure should keep its own message (None: no reinterpretation)."""
    other = (
        "E: Failed to fetch http://deb.debian.org/debian/dists/forky/InRelease  Could not resolve 'deb.debian.org'\n"
    )
    assert expired_release(other) is None


@pytest.mark.parametrize("allow", [False, True], ids=["default", "opt-in"])
def test_apt_conf_skips_only_the_date_check_when_opted_in(tmp_path: Path, allow: bool) -> None:
    """--allow-expired-release should add Check-Valid-Until=false and nothing that weakens signatures."""
    messages: list[str] = []
    repo = AptRepo(
        "forky", "amd64", cache_dir=tmp_path, mirror="http://m.example/debian",
        allow_expired=allow, progress=messages.append,
    )  # fmt: skip
    repo.configure()
    text = repo.config_file.read_text()
    assert ('Acquire::Check-Valid-Until "false";' in text) is allow
    for weakening in ("AllowInsecureRepositories", "AllowUnauthenticated", "trusted=yes", "Check-Date"):
        assert weakening not in text
    assert "signed-by=" in (repo.root / "etc" / "sources.list").read_text()
    assert any("warning: --allow-expired-release" in m for m in messages) is allow


def test_apt_lists_taken_with_the_opt_in_never_serve_a_run_without_it(tmp_path: Path) -> None:
    """Lists apt accepted only because Valid-Until was waived should live apart from the checked ones."""
    waived = AptRepo("forky", "amd64", cache_dir=tmp_path, allow_expired=True, progress=lambda m: None)
    checked = AptRepo("forky", "amd64", cache_dir=tmp_path, progress=lambda m: None)
    assert waived.root != checked.root
    assert waived.debs_dir == checked.debs_dir  # the .debs are checked by hash either way: shared


def test_apt_repo_for_arch_is_itself_for_its_own_arch(tmp_path: Path) -> None:
    """for_arch should give the same repository back when it already is that architecture."""
    repo = AptRepo("trixie", "amd64", cache_dir=tmp_path)
    assert repo.for_arch("amd64") is repo


def test_apt_repo_for_arch_keeps_the_suite_mirror_and_cache(tmp_path: Path) -> None:
    """for_arch should give the same suite, mirror, cache and expiry waiver for another architecture."""
    repo = AptRepo("forky", "arm64", cache_dir=tmp_path, mirror="http://mirror.example/debian", allow_expired=True)
    other = repo.for_arch("amd64")
    assert (other.suite, other.arch, other.mirror, other.cache_dir) == ("forky", "amd64", repo.mirror, tmp_path)
    assert other.allow_expired and other.root == tmp_path / "apt" / "forky-amd64-valid-until-waived"
