"""The image's shell stand-in for git-sh-i18n--envsubst, against git's own program."""

import os
import subprocess
from pathlib import Path

import pytest

from docker_from_scratch.builder import envsubst

GIT_ENVSUBST = Path("/usr/lib/git-core/git-sh-i18n--envsubst")
# git-sh-setup's and git-submodule's messages, plus the corners of the syntax.
FORMATS = (
    "usage: $dashless $USAGE",
    "usage: $dashless $USAGE\n\n$LONG_USAGE",
    "fatal: $program_name cannot be used without a working tree.",
    "Cannot $action: You have unstaged changes.\n",
    "${A}${B}_$A_x$A$B",
    "a ${b} $c} ${d $ $$ $1 ${} ${9} x$",
    "no references at all\n\n",
    "$UNSET and ${UNSET} go empty, $dashless stays set",
)
ENVIRONMENT = {
    "dashless": "git submodule",
    "USAGE": "[--quiet] & \\1 $y `id` *",
    "LONG_USAGE": "line one\nline two",
    "program_name": "git-submodule",
    "action": "rebase",
    "A": "1",
    "B": "two  words",
    "c": "*",
}


def run(program: list[str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], **ENVIRONMENT}
    return subprocess.run([*program, *args], input=stdin, env=env, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    if not GIT_ENVSUBST.exists():
        pytest.skip("the host's git has no git-sh-i18n--envsubst to compare with (scripts/setup installs git)")
    path = tmp_path_factory.mktemp("envsubst") / "git-sh-i18n--envsubst"
    path.write_text(envsubst.SCRIPT)
    return ["dash", str(path)]


@pytest.mark.parametrize("text", FORMATS)
def test_envsubst_stand_in_lists_the_variables_as_git_does(stand_in: list[str], text: str) -> None:
    """`--variables FORMAT` should print the same names as git's program."""
    ours, gits = run(stand_in, "--variables", text), run([str(GIT_ENVSUBST)], "--variables", text)
    assert (ours.returncode, ours.stdout) == (gits.returncode, gits.stdout)


@pytest.mark.parametrize("text", FORMATS)
def test_envsubst_stand_in_substitutes_as_git_does(stand_in: list[str], text: str) -> None:
    """`FORMAT` with the text on stdin should write the same bytes as git's program."""
    ours, gits = run(stand_in, text, stdin=text), run([str(GIT_ENVSUBST)], text, stdin=text)
    assert (ours.returncode, ours.stdout) == (gits.returncode, gits.stdout)


def test_envsubst_stand_in_replaces_only_the_formats_names(stand_in: list[str]) -> None:
    """Names on stdin that FORMAT does not mention should stay as they are, like git's."""
    text = "$A and $B\n"
    ours, gits = run(stand_in, "$A", stdin=text), run([str(GIT_ENVSUBST)], "$A", stdin=text)
    assert ours.stdout == gits.stdout == "1 and $B\n"


def test_envsubst_stand_in_runs_no_text(stand_in: list[str], tmp_path: Path) -> None:
    """A value holding shell syntax should be copied, never run."""
    marker = tmp_path / "ran"
    result = subprocess.run(
        [*stand_in, "$X"], input="$X", env={"PATH": os.environ["PATH"], "X": f"$(touch {marker})"},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert result.stdout == f"$(touch {marker})" and not marker.exists()
