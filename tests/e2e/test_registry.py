"""One multi-platform image through a real registry, and our nested daemon's registry round trip.

The registry is Debian's docker-registry in a container of the host engine, on a loopback
port (tests/testing/registry.py); the image index comes from `build --arch amd64,arm64`
(one build a session) and goes there with the `push` verb (skopeo). No pulls from
anywhere but that registry.
"""

import filecmp
import json
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.testing.engine import BUSYBOX_TAG, dind, docker, unique
from tests.testing.multiarch import MultiBuild, run_multi_build
from tests.testing.registry import Registry, running_registry

PUSH_TIMEOUT_S = 600  # skopeo gzips two ~220 MB layers on the way: ~30 s on a quiet machine


@pytest.fixture(scope="module")
def registry(engine: None) -> Iterator[Registry]:
    with running_registry() as started:
        yield started


@pytest.fixture(scope="module")
def pushed(registry: Registry, multiarch: MultiBuild) -> Iterator[str]:
    """The multi-platform archive pushed with `docker-from-scratch push`; its reference."""
    reference = f"{registry.host_address}/{unique('dfs-multi')}:latest"
    subprocess.run(
        [sys.executable, "-m", "docker_from_scratch.cli", "push", "--insecure",
         str(multiarch.index_archive), reference],
        check=True, timeout=PUSH_TIMEOUT_S,
    )  # fmt: skip
    yield reference
    docker("rmi", reference, check=False)


def index_of(archive: MultiBuild) -> dict[str, Any]:
    """The image index blob the OCI archive's index.json names."""
    with tarfile.open(archive.index_archive) as tar:
        top = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
        digest = top["manifests"][0]["digest"].removeprefix("sha256:")
        index: dict[str, Any] = json.loads(tar.extractfile(f"blobs/sha256/{digest}").read())  # type: ignore[union-attr]
    assert f"sha256:{digest}" == archive.index_digest
    return index


def test_build_multiarch_writes_one_reproducible_index(
    multiarch: MultiBuild, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Two `build --arch amd64,arm64` of the same inputs should give one index listing both platforms, same digest."""
    platforms = [m["platform"] for m in index_of(multiarch)["manifests"]]
    assert platforms == [{"architecture": "amd64", "os": "linux"},
                         {"architecture": "arm64", "os": "linux", "variant": "v8"}]  # fmt: skip
    again = run_multi_build(tmp_path_factory.mktemp("multiarch-again"))
    try:
        assert again.index_digest == multiarch.index_digest
        assert filecmp.cmp(again.index_archive, multiarch.index_archive, shallow=False)
    finally:
        shutil.rmtree(again.directory)  # ~1 GB


def test_push_index_is_listed_with_both_platforms(pushed: str) -> None:
    """`docker manifest inspect` of the pushed tag should show an index with linux/amd64 and linux/arm64."""
    shown = json.loads(docker("manifest", "inspect", "--insecure", pushed).stdout)
    assert shown["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert sorted((m["platform"]["os"], m["platform"]["architecture"]) for m in shown["manifests"]) == [
        ("linux", "amd64"), ("linux", "arm64"),
    ]  # fmt: skip


@pytest.mark.parametrize("arch", ["arm64", "amd64"])
def test_push_pull_by_platform_gives_that_architecture(pushed: str, arch: str) -> None:
    """`docker pull --platform linux/ARCH` of the pushed tag should give an ARCH image of our build."""
    docker("pull", "--platform", f"linux/{arch}", pushed, timeout=600)
    got = docker("image", "inspect", "-f", "{{.Architecture}} {{index .Config.Labels \"docker-from-scratch.arch\"}}",
                 pushed).stdout.split()  # fmt: skip
    assert got == [arch, arch]


def test_push_pulled_amd64_image_runs_the_seed_commands(pushed: str, busybox_tar: Path) -> None:
    """Our amd64 image pulled back from the registry should start as DinD and answer `docker ps` and a nested run."""
    docker("pull", "--platform", "linux/amd64", pushed, timeout=600)
    with dind(pushed) as daemon:
        assert daemon.exec("docker", "ps").stdout.startswith("CONTAINER ID")
        daemon.load_image(busybox_tar)
        assert daemon.exec("docker", "run", "--rm", BUSYBOX_TAG, "echo", "pulled-back").stdout.strip() == "pulled-back"


def test_nested_daemon_pushes_and_pulls_through_the_registry(
    default_image: str, registry: Registry, busybox_tar: Path
) -> None:
    """Our nested dockerd with --insecure-registry should push, forget, pull back and run an image."""
    remote = f"{registry.bridge_address}/{unique('nested')}:1"
    with dind(default_image, "--insecure-registry", registry.bridge_address) as daemon:
        daemon.load_image(busybox_tar)
        daemon.exec("docker", "tag", BUSYBOX_TAG, remote)
        daemon.exec("docker", "push", remote)
        daemon.exec("docker", "rmi", remote, BUSYBOX_TAG)
        assert daemon.exec("docker", "image", "inspect", remote, check=False).returncode != 0
        daemon.exec("docker", "pull", remote)
        assert daemon.exec("docker", "run", "--rm", remote, "echo", "round-trip").stdout.strip() == "round-trip"
