"""The layout step on a tmpfs root in a private mount namespace, including a read-only /etc."""

import os
from typing import Any

import pytest

from docker_from_scratch.launcher import files, syscalls
from docker_from_scratch.launcher.errors import LaunchError
from tests.testing.namespaces import run_in_namespace

pytestmark = pytest.mark.integration


def listing(root: str) -> list[str]:
    found = []
    for directory, subdirs, names in os.walk(root):
        for name in subdirs + names:
            found.append(os.path.relpath(os.path.join(directory, name), root))
    return sorted(found)


def prepare_on_read_only_etc(root: str) -> list[Any]:
    etc = os.path.join(root, "etc")
    os.mkdir(etc)
    syscalls.mount("tmpfs", etc, "tmpfs", syscalls.MS_RDONLY)
    try:
        files.prepare_layout(root)
        return [None]
    except LaunchError as exc:
        return [exc.one_line()]


def prepare_twice(root: str) -> list[Any]:
    os.makedirs(os.path.join(root, "usr/etc/ssl/certs"))
    with open(os.path.join(root, "usr/etc/ssl/certs/ca-certificates.crt"), "w") as handle:
        handle.write("bundle\n")
    os.makedirs(os.path.join(root, "usr/lib"))
    os.makedirs(os.path.join(root, "run"))
    with open(os.path.join(root, "run/docker.pid"), "w") as handle:
        handle.write("12345678")
    files.prepare_layout(root, data_root="/data", config_file="/etc/docker/daemon.json")
    first = listing(root)
    files.prepare_layout(root, data_root="/data", config_file="/etc/docker/daemon.json")
    return [first, listing(root)]


def test_files_read_only_etc_fails_naming_file_and_errno() -> None:
    """A read-only /etc should stop the step with one line naming the file, EROFS and a hint."""
    run = run_in_namespace(prepare_on_read_only_etc)
    assert run.error is None, run.log
    (message,) = run.value
    assert message is not None and "/etc/" in message and "EROFS" in message and "hint:" in message


def test_files_prepare_layout_on_an_empty_root_then_nothing() -> None:
    """The step should create the layout once; run again it should create and remove nothing."""
    run = run_in_namespace(prepare_twice)
    assert run.error is None, run.log
    first, second = run.value
    assert second == first
    for expected in ("etc/ssl/certs/ca-certificates.crt", "etc/passwd", "etc/docker/daemon.json", "data", "lib",
                     "root/.ssh", "tmp"):  # fmt: skip
        assert expected in first
    assert "run/docker.pid" not in first
