"""apt for any suite: the host's mirror, the suite mapping and .deb names (no network)."""

import pytest

from docker_from_scratch.builder.apt import (
    DebRef,
    SourceEntry,
    parse_deb822_sources,
    parse_one_line_sources,
    source_lines,
)
from docker_from_scratch.builder.errors import BuildError

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
