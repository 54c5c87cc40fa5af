"""End-to-end fixtures: the host engine, our image built and loaded once per session and suite.

Two image fixtures:

* ``image`` is parametrized over SUITES (ids ``trixie``, ``forky``): each suite's image
  is built once per session, and every test that takes ``image`` runs against both
  engines (docker 26.1 / containerd 1.7 / runc 1.1 and docker 28.5 / containerd 2.1 /
  runc 1.3). New e2e tests take ``image`` unless they do not depend on the engine.
* ``plugin_image`` is ``image`` built with ``--plugins buildx,compose``, per suite too.
* ``default_image`` is the default suite's image only, for tests that exercise no
  engine difference and would double their wall time for nothing: the Kubernetes pod
  emulation (test_kubernetes_pods: manifests and pod wiring). ``rootless_image`` is
  the default suite's too. The VM tests build their own image (default suite).

DFS_SUITES=trixie (comma-separated) keeps a run to some suites; DFS_IMAGE names an
already loaded image to test instead of building (then for every suite).
"""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from docker_from_scratch.builder.options import DEFAULT_SUITE
from tests.testing.engine import EXPIRED_SUITES, ensure_busybox_image, image_exists, save_image
from tests.testing.multiarch import MultiBuild, run_multi_build

ROOT = Path(__file__).resolve().parents[2]
# One tag per checkout: two checkouts testing side by side on one host engine must not
# replace each other's image between a build and its tests.
IMAGE_TAG = os.environ.get("DFS_IMAGE", f"docker-from-scratch:test-{hashlib.sha256(os.fsencode(ROOT)).hexdigest()[:8]}")
SUITES = tuple(os.environ.get("DFS_SUITES", "trixie,forky").split(","))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


def build_and_load(suite: str, *options: str, variant: str = "") -> str:
    """Our image of ``suite``, built by the real builder and loaded into the host engine."""
    if "DFS_IMAGE" in os.environ and not variant:
        if not image_exists(IMAGE_TAG):
            pytest.fail(f"DFS_IMAGE={IMAGE_TAG} is not loaded in the host engine")
        return IMAGE_TAG
    tag = IMAGE_TAG if suite == DEFAULT_SUITE else f"{IMAGE_TAG}-{suite}"
    tag += f"-{variant}" if variant else ""
    opt_in = ["--allow-expired-release"] if suite in EXPIRED_SUITES else []
    subprocess.run(
        [sys.executable, "-m", "docker_from_scratch.cli", "build", "--load", "--tag", tag, "--suite", suite,
         *opt_in, *options, "-o", os.fspath(ROOT / "out" / "test")],
        check=True, timeout=1800,
    )  # fmt: skip
    return tag


@pytest.fixture(scope="session", params=SUITES)
def image(engine: None, request: pytest.FixtureRequest) -> str:
    """Our image of each suite (once a session per suite): tests taking it run on every engine."""
    suite: str = request.param
    return build_and_load(suite)


@pytest.fixture(scope="session", params=SUITES)
def plugin_image(engine: None, request: pytest.FixtureRequest) -> str:
    """Our image of each suite with --plugins buildx,compose (the docker:dind equivalent)."""
    suite: str = request.param
    return build_and_load(suite, "--plugins", "buildx,compose", variant="plugins")


@pytest.fixture(scope="session")
def default_image(engine: None) -> str:
    """Our image of the default suite only, for engine-independent tests."""
    return build_and_load(DEFAULT_SUITE)


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


@pytest.fixture(scope="session")
def multiarch() -> MultiBuild:
    """Our image for amd64 and arm64 plus their OCI image index, built once a session."""
    return run_multi_build(ROOT / "out" / "test-multiarch")
