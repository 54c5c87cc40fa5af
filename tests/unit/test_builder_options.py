"""The build and export verbs' shared options: suites, --plugins, --allow-expired-release."""

import argparse

import pytest

from docker_from_scratch.builder.options import DEFAULT_SUITE, add_common_arguments, plugin_list


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_common_arguments(parser)
    return parser.parse_args(argv)


def test_options_default_to_trixie_without_plugins_or_opt_in() -> None:
    """No options should mean trixie, no plugins, and expired Release files refused."""
    args = parse()
    assert (args.suite, args.plugins, args.allow_expired_release) == (DEFAULT_SUITE, (), False)
    assert DEFAULT_SUITE == "trixie"


def test_plugin_list_takes_either_or_both() -> None:
    """--plugins should accept buildx, compose or both in any order, deduplicated and sorted."""
    assert parse("--plugins", "compose,buildx").plugins == ("buildx", "compose")
    assert plugin_list("buildx") == ("buildx",)
    assert plugin_list("compose, compose") == ("compose",)


@pytest.mark.parametrize("text", ["scan", "buildx,scan", ","])
def test_plugin_list_refuses_unknown_names(text: str) -> None:
    """An unknown or empty plugin list should be an argparse error naming the choices."""
    with pytest.raises(argparse.ArgumentTypeError, match="choose from buildx,compose"):
        plugin_list(text)
