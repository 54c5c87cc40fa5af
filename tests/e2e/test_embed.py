"""Embedding: `ADD files.tar /` on top of a Debian minbase made with debootstrap.

The seed's second way to ship Docker: the exported files on another distribution's
image, with the launcher as the entrypoint. The distribution must keep working and keep
its own /etc; the launcher must bring up the same nested Docker as in our own image.
"""

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from docker_from_scratch.builder.apt import default_cache_dir, host_codename, host_sources
from tests.testing.engine import ENGINE_VERSIONS, EXPIRED_SUITES, Dind, dind, docker, image_exists, image_suite, unique

BASE_TAG = "dfs-test-debian:minbase"
NESTED_BUSYBOX = "dfs-test-busybox:latest"
ROOT = Path(__file__).resolve().parents[2]


def debian_mirror() -> str:
    """The host's own Debian mirror (its main suite), as apt uses it: no host is hard-coded."""
    codename = host_codename()
    for entry in host_sources():
        if codename in entry.suites:
            return entry.uri
    pytest.fail(f"no apt source for {codename} in /etc/apt: debootstrap needs a Debian mirror")


@pytest.fixture(scope="session")
def debian_base(engine: None) -> str:
    """A Debian minbase of the host's suite, made with debootstrap and imported (kept, like busybox)."""
    if image_exists(BASE_TAG):
        return BASE_TAG
    cache = default_cache_dir() / "debootstrap"
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dfs-minbase-") as target:
        subprocess.run(
            ["debootstrap", "--variant=minbase", f"--cache-dir={cache}", host_codename(), target, debian_mirror()],
            check=True, capture_output=True, timeout=900,
        )  # fmt: skip
        tar = subprocess.Popen(["tar", "-C", target, "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(["docker", "import", "-", BASE_TAG], stdin=tar.stdout, check=True, capture_output=True)
        assert tar.wait() == 0
    return BASE_TAG


@pytest.fixture(scope="module")
def embedded(debian_base: str, image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An image built FROM the Debian base with `ADD files.tar /` and our launcher as entrypoint."""
    context = tmp_path_factory.mktemp("embed")
    suite = image_suite(image)  # the files of the suite under test, as `image` is built
    opt_in = ["--allow-expired-release"] if suite in EXPIRED_SUITES else []
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "docker-from-scratch"), "export", "--suite", suite, *opt_in,
         "-o", os.fspath(context / "files.tar")],
        check=True, capture_output=True, timeout=900,
    )  # fmt: skip
    (context / "Dockerfile").write_text(
        f"FROM {debian_base}\n"
        "ADD files.tar /\n"
        'ENTRYPOINT ["/usr/bin/dockerlaunch", "/usr/bin/dockerd"]\n'
        "VOLUME /var/lib/docker\n"
    )
    tag = f"{unique('dfs-test-embedded')}:latest"
    docker("build", "-q", "-t", tag, os.fspath(context), timeout=900)
    try:
        yield tag
    finally:
        docker("image", "rm", "-f", tag, check=False)


@pytest.fixture(scope="module")
def daemon(embedded: str, busybox_tar: Path) -> Iterator[Dind]:
    """The embedded image running as a DinD daemon, with busybox loaded."""
    with dind(embedded) as container:
        container.load_image(busybox_tar)
        yield container


def test_embed_keeps_the_distribution_etc(daemon: Dind) -> None:
    """After the launcher ran, /etc should still be Debian's: its os-release and its users."""
    os_release = daemon.exec("cat", "/etc/os-release").stdout
    assert f"VERSION_CODENAME={host_codename()}" in os_release
    passwd = daemon.exec("cat", "/etc/passwd").stdout
    assert "daemon:x:1:1:" in passwd and "_apt:" in passwd, passwd


def test_embed_distribution_programs_still_run(daemon: Dind) -> None:
    """The base's own tools (bash, apt-get, dpkg) should still run beside our files."""
    result = daemon.exec("bash", "-c", "apt-get --version | head -1 && dpkg -s base-files | grep -c Version")
    lines = result.stdout.split()
    assert result.stdout.startswith("apt ") and lines[-1] == "1", result.stdout


def test_embed_nested_docker_runs_a_container(daemon: Dind, image: str) -> None:
    """The seed's checks: docker ps, the suite's engine version, a nested run with bridge networking."""
    assert daemon.exec("docker", "ps").stdout.startswith("CONTAINER ID")
    server = daemon.exec("docker", "version", "--format", "{{.Server.Version}}").stdout.strip()
    assert server.startswith(ENGINE_VERSIONS[image_suite(image)]), server
    result = daemon.exec("docker", "run", "--rm", NESTED_BUSYBOX, "sh", "-c", "echo embedded; ip -4 -o addr show eth0")
    assert result.stdout.startswith("embedded") and "inet " in result.stdout, result.stdout
