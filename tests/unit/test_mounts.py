"""mounts.usable_before_api_filesystems: may the certificates start before that step."""

import os
import tempfile

import pytest

from docker_from_scratch.launcher import mounts


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/certs", True), ("/var/lib/certs", True), ("/run/certs", False), ("/tmp", False), ("/var/run/certs", False),
     ("/dev/shm/certs", False), ("/running/certs", True)],
)  # fmt: skip
def test_mounts_usable_before_api_filesystems_outside_its_mount_points(path: str, expected: bool) -> None:
    """A directory should count as usable early only when it lies below none of the step's mount points."""
    assert mounts.usable_before_api_filesystems(path) is expected


def test_mounts_usable_before_api_filesystems_follows_links() -> None:
    """A link outside the step's mount points that leads below /run should not count as usable early."""
    with tempfile.TemporaryDirectory(dir="/var/tmp") as outside:  # /tmp is one of the step's
        link = os.path.join(outside, "certs")
        os.symlink("/run/certs", link)
        assert mounts.usable_before_api_filesystems(outside) is True
        assert mounts.usable_before_api_filesystems(link) is False
