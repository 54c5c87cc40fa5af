"""`build --compress`: the archive each engine loads, live.

zstd (level 3 here: the bench measures -19) into our own engines, each suite's, inside
their DinD containers, then a container run from it there; into the host engine, Docker
20.10, which refuses it the known way; gzip, which every engine reads, into the host
engine. A container runs from a tag only after its load succeeded (a failed load would
make the engine look for the tag on Docker Hub).
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from docker_from_scratch.builder.compress import ZSTD_REFUSAL, Compression
from docker_from_scratch.builder.errors import BuildError
from docker_from_scratch.builder.image import docker_load
from tests.testing.compressed import FIRST_ZSTD_ENGINE, Compressed, build_compressed, host_engine_major
from tests.testing.engine import dind, docker, image_exists

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def zstd_archive(engine: None, tmp_path_factory: pytest.TempPathFactory) -> Compressed:
    """The default suite's image built with --compress zstd:3, once a module."""
    return build_compressed("zstd:3", tmp_path_factory.mktemp("zstd"))


@pytest.fixture
def host_tag_removed(engine: None) -> Iterator[list[str]]:
    """Tags a test loads into the host engine, removed afterwards (only those)."""
    tags: list[str] = []
    yield tags
    for tag in tags:
        docker("rmi", "-f", tag, check=False)


def test_compress_zstd_archive_loads_and_runs_in_our_engine(image: str, zstd_archive: Compressed) -> None:
    """Our engine (each suite's) should load the zstd archive as the same image ID and run a container from it."""
    assert zstd_archive.report["compression"] == "zstd:3"
    assert int(str(zstd_archive.report["blob_size"])) < int(str(zstd_archive.report["layer_size"])) // 2
    with dind(image) as daemon:
        with open(zstd_archive.archive, "rb") as handle:
            loaded = daemon.exec("docker", "load", input=handle.read(), timeout=600)
        assert f"Loaded image: {zstd_archive.tag}" in loaded.stdout, loaded
        image_id = daemon.exec("docker", "image", "inspect", "--format", "{{.Id}}", zstd_archive.tag).stdout.strip()
        assert image_id == zstd_archive.image_id
        ran = daemon.exec("docker", "run", "--rm", "--entrypoint", "/usr/bin/docker", zstd_archive.tag, "--version")
        assert ran.stdout.startswith("Docker version 26.1."), ran


def test_compress_zstd_archive_is_refused_by_host_engine_before_23(
    zstd_archive: Compressed, host_tag_removed: list[str]
) -> None:
    """The host engine should refuse the zstd archive with 20.10's known error (or, from 23 on, load it)."""
    host_tag_removed.append(zstd_archive.tag)
    result = docker("load", "-i", str(zstd_archive.archive), check=False, timeout=600)
    if host_engine_major() >= FIRST_ZSTD_ENGINE:
        assert result.returncode == 0, result.stderr
        assert image_exists(zstd_archive.tag)
        return
    assert result.returncode != 0, result.stdout
    assert ZSTD_REFUSAL in result.stderr, result.stderr
    assert not image_exists(zstd_archive.tag)


def test_compress_load_flag_names_the_zstd_refusal(zstd_archive: Compressed, host_tag_removed: list[str]) -> None:
    """build --load's docker load should turn 20.10's refusal into one line naming the fix (--compress gzip)."""
    if host_engine_major() >= FIRST_ZSTD_ENGINE:
        pytest.skip("the host engine reads zstd")
    host_tag_removed.append(zstd_archive.tag)
    with pytest.raises(BuildError, match="cannot decompress the zstd layer") as caught:
        docker_load(zstd_archive.archive, Compression("zstd", 3))
    assert caught.value.hint is not None and "--compress gzip" in caught.value.hint


def test_compress_gzip_archive_loads_and_runs_in_host_engine(
    engine: None, tmp_path: Path, host_tag_removed: list[str]
) -> None:
    """The gzip archive should load into the host engine (20.10) as its image ID and run a container."""
    gzipped = build_compressed("gzip:1", tmp_path)
    host_tag_removed.append(gzipped.tag)
    result = docker("load", "-i", str(gzipped.archive), timeout=600)
    assert f"Loaded image: {gzipped.tag}" in result.stdout, result
    assert docker("image", "inspect", "--format", "{{.Id}}", gzipped.tag).stdout.strip() == gzipped.image_id
    ran = docker("run", "--rm", "--entrypoint", "/usr/bin/docker", gzipped.tag, "--version")
    assert ran.stdout.startswith("Docker version 26.1."), ran
