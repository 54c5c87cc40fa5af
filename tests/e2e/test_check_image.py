"""`docker-from-scratch check` inside our image, in the environments issue 6 names: the
DinD flag set (all hard rows pass), no extra flags (missing capability, read-only /sys),
no /lib/modules, and iptables removed from PATH."""

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from docker_from_scratch.host import privileged_flags
from tests.testing.engine import dind, docker, unique

ENTRY = "/usr/bin/docker-from-scratch"


@pytest.fixture(scope="module")
def check_image(image: str) -> str:
    """Our image, built from this tree and loaded once a session (tests/e2e/conftest.py)."""
    return image


@pytest.fixture
def volume() -> Iterator[str]:
    """A named volume for /var/lib/docker (not the container's overlayfs), removed after."""
    name = unique("dfs-test-check")
    docker("volume", "create", name)
    try:
        yield name
    finally:
        docker("volume", "rm", "-f", name, check=False)


def run_check(image: str, *run_options: str, json_output: bool = True) -> tuple[int, str]:
    """`docker run --rm --entrypoint docker-from-scratch IMAGE check [--json]`."""
    start = time.monotonic()
    result = docker(
        "run", "--rm", "--entrypoint", ENTRY, *run_options, image,
        "check", *(["--json"] if json_output else []),
        check=False, timeout=120,
    )  # fmt: skip
    print(f"docker run ... check: {time.monotonic() - start:.2f} s wall")
    if result.returncode not in (0, 1):
        raise AssertionError(f"check failed ({result.returncode}): {result.stderr.strip()}")
    return result.returncode, result.stdout


def rows_of(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    print(f"check inside the container: {data['seconds'] * 1000:.1f} ms")
    return {row["name"]: row for row in data["requirements"]}


def test_check_dind_flags_pass_every_hard_row(check_image: str, volume: str) -> None:
    """With the DinD flag set, check should exit 0; the only hard rows not found are the
    ones dockerlaunch repairs at start (read-only /sys and cgroups)."""
    status, out = run_check(check_image, *privileged_flags(), "-v", f"{volume}:/var/lib/docker")
    data = json.loads(out)
    rows = rows_of(data)
    assert status == 0, data["verdict"]
    assert data["missing_hard"] == []
    not_found = {n for n, r in rows.items() if r["level"] == "hard" and not r["ok"]}
    assert not_found <= {"writable /sys", "writable cgroups"}
    assert rows["data root not on overlayfs"]["ok"], rows["data root not on overlayfs"]["detail"]


def test_check_in_running_dind_finds_every_hard_row(check_image: str) -> None:
    """Inside a running DinD daemon (after dockerlaunch's repairs) every hard row is found."""
    with dind(check_image) as container:
        result = container.exec(ENTRY, "check", "--json", check=False)
    data = json.loads(result.stdout)
    rows = rows_of(data)
    assert result.returncode == 0, data["verdict"]
    missing = [n for n, r in rows.items() if r["level"] == "hard" and not r["ok"]]
    assert missing == []


def test_check_default_container_names_capability_and_read_only_sys(check_image: str) -> None:
    """With no extra flags, check should exit 1 naming CAP_SYS_ADMIN, and report /sys
    as read-only."""
    status, out = run_check(check_image)
    data = json.loads(out)
    rows = rows_of(data)
    assert status == 1
    assert "CAP_SYS_ADMIN" in data["missing_hard"]
    assert "lacks CAP_SYS_ADMIN" in rows["CAP_SYS_ADMIN"]["detail"]
    assert rows["writable /sys"]["status"] == "missing"
    assert "/sys is read-only" in rows["writable /sys"]["detail"]


def test_check_default_container_last_line_names_the_fix(check_image: str) -> None:
    """The text report's last line should name the missing capability and --privileged."""
    status, out = run_check(check_image, json_output=False)
    last = out.splitlines()[-1]
    assert status == 1
    assert last.startswith("Docker cannot run here: missing ") and "CAP_SYS_ADMIN" in last
    assert "--privileged" in last


def test_check_without_lib_modules(check_image: str, volume: str) -> None:
    """The image has no /lib/modules: on a kernel with loadable modules the modules row is
    missing with the -v /lib/modules fix; on one without (this build machine: no
    /proc/modules) it is found and says why nothing needs loading."""
    options = (*privileged_flags(), "-v", f"{volume}:/var/lib/docker")
    _, out = run_check(check_image, *options)
    row = rows_of(json.loads(out))["kernel modules"]
    if os.path.exists("/proc/modules"):
        if row["ok"]:
            assert row["detail"] == "all loaded or built in: nothing to load"
        else:
            assert row["detail"].startswith("no /lib/modules/")
            assert "-v /lib/modules:/lib/modules:ro" in row["fix"]
    else:
        assert row["ok"]
        assert row["detail"] in (
            "all loaded or built in: nothing to load",
            "the kernel has no loadable modules (CONFIG_MODULES unset)",
        )
    assert row["level"] == "soft"


def test_check_without_iptables_names_iptables_false(check_image: str, volume: str) -> None:
    """iptables removed from PATH (only /usr/bin left): the fix names --iptables=false."""
    options = (*privileged_flags(), "-v", f"{volume}:/var/lib/docker", "-e", "PATH=/usr/bin")
    _, out = run_check(check_image, *options)
    row = rows_of(json.loads(out))["iptables"]
    assert row["status"] == "missing"
    assert "--iptables=false" in row["fix"]


def test_check_help_prints_its_description_in_the_image(check_image: str) -> None:
    """`check --help` in the image should print cmd_check's docstring, wrapped by argparse.

    The image's zip drops docstrings from the standard library only (builder/pyanalyse.py),
    and argparse imports textwrap inside its help formatter (an implicit module).
    """
    result = docker("run", "--rm", "--entrypoint", ENTRY, check_image, "check", "--help", check=False)
    assert result.returncode == 0, result.stderr
    assert "test what Docker needs, here (host, our image" in result.stdout, result.stdout
    assert result.stderr == "", result.stderr
