"""End-to-end fixtures: the host engine, our image built and loaded once per session."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.testing.engine import ensure_busybox_image, image_exists, save_image

ROOT = Path(__file__).resolve().parents[2]
# One tag per checkout: two checkouts testing side by side on one host engine must not
# replace each other's image between a build and its tests.
IMAGE_TAG = os.environ.get("DFS_IMAGE", f"docker-from-scratch:test-{hashlib.sha256(os.fsencode(ROOT)).hexdigest()[:8]}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def image(engine: None) -> str:
    """Our image, built by the real builder and loaded into the host engine (once a session).

    DFS_IMAGE names an already loaded image to test instead (skips the build).
    """
    if "DFS_IMAGE" in os.environ:
        if not image_exists(IMAGE_TAG):
            pytest.fail(f"DFS_IMAGE={IMAGE_TAG} is not loaded in the host engine")
        return IMAGE_TAG
    subprocess.run(
        [sys.executable, "-m", "docker_from_scratch.cli", "build", "--load", "--tag", IMAGE_TAG,
         "-o", os.fspath(ROOT / "out" / "test")],
        check=True, timeout=1800,
    )  # fmt: skip
    return IMAGE_TAG


@pytest.fixture(scope="session")
def rootless_image(engine: None) -> str:
    """The rootless variant (build --rootless), built and loaded once a session."""
    tag = IMAGE_TAG.replace(":test-", ":test-rootless-")
    if "DFS_ROOTLESS_IMAGE" in os.environ:
        return os.environ["DFS_ROOTLESS_IMAGE"]
    subprocess.run(
        [sys.executable, "-m", "docker_from_scratch.cli", "build", "--rootless", "--load", "--tag", tag,
         "-o", os.fspath(ROOT / "out" / "test")],
        check=True, timeout=1800,
    )  # fmt: skip
    return tag


@pytest.fixture(scope="session")
def busybox(engine: None) -> str:
    """A busybox image imported locally into the host engine (no registry)."""
    return ensure_busybox_image()


@pytest.fixture(scope="session")
def busybox_tar(busybox: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The busybox image saved as a tar, to `docker load` into nested daemons."""
    return save_image(busybox, tmp_path_factory.mktemp("images") / "busybox.tar")
