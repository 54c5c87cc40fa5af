"""Embedding: `ADD files.tar /` on top of other bases, merged-/usr or not.

The seed's second way to ship Docker: the exported files on another distribution's
image, with the launcher as the entrypoint. Each base must keep working and keep its own
/etc and links; the launcher must bring up the same nested Docker as in our own image.
Three bases: a Debian minbase made with debootstrap (merged /usr: /lib64 and /lib are
links), a static busybox root with only /bin and /etc, and a base whose /lib is a real
directory and that has no /lib64. The last two are built here from Debian's busybox.
"""

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from docker_from_scratch.builder.apt import default_cache_dir, host_codename, host_sources
from tests.testing.engine import (
    ENGINE_VERSIONS,
    EXPIRED_SUITES,
    Dind,
    busybox_rootfs_tar,
    dind,
    docker,
    image_exists,
    image_suite,
    import_rootfs,
    unique,
)

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


# Each self-built base has a passwd of its own, which must survive the embedding.
BUSYBOX_PASSWD = b"root:x:0:0:busybox base:/root:/bin/sh\nbase:x:1000:1000:the base's user:/tmp:/bin/sh\n"
REAL_LIB_PASSWD = b"root:x:0:0:real-lib base:/root:/bin/sh\n"
REAL_LIB_FILES = {"lib/base-marker": b"the base's own /lib\n", "sbin/base-tool": b"#!/bin/sh\necho base tool\n"}
BASES = ("debian-minbase", "busybox-static", "real-lib-no-lib64")


@pytest.fixture(scope="module")
def files_tar(image: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The export tarball of this checkout, made once for every base (of the suite under test)."""
    path = tmp_path_factory.mktemp("export") / "files.tar"
    suite = image_suite(image)  # the files of the suite under test, as `image` is built
    opt_in = ["--allow-expired-release"] if suite in EXPIRED_SUITES else []
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "docker-from-scratch"), "export", "--suite", suite, *opt_in,
         "-o", os.fspath(path)],
        check=True, capture_output=True, timeout=900,
    )  # fmt: skip
    return path


@pytest.fixture(scope="module", params=BASES)
def base(request: pytest.FixtureRequest, engine: None) -> Iterator[tuple[str, str]]:
    """(kind, tag) of a base image: debootstrap's (kept), or one built here (removed after)."""
    kind: str = request.param
    if kind == "debian-minbase":
        yield kind, request.getfixturevalue("debian_base")
        return
    if kind == "busybox-static":
        tar = busybox_rootfs_tar(BUSYBOX_PASSWD)
    else:
        tar = busybox_rootfs_tar(REAL_LIB_PASSWD, REAL_LIB_FILES)
    tag = import_rootfs(tar, f"{unique('dfs-test-base')}:latest")
    try:
        yield kind, tag
    finally:
        docker("image", "rm", "-f", tag, check=False)


@pytest.fixture(scope="module")
def embedded(base: tuple[str, str], files_tar: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An image built FROM the base with `ADD files.tar /` and our launcher as entrypoint."""
    context = tmp_path_factory.mktemp("embed")
    os.link(files_tar, context / "files.tar")
    (context / "Dockerfile").write_text(
        f"FROM {base[1]}\n"
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


def test_embed_keeps_the_base_etc(base: tuple[str, str], daemon: Dind) -> None:
    """After the launcher ran, /etc should still be the base's: its os-release and its users."""
    passwd = daemon.exec("cat", "/etc/passwd").stdout
    if base[0] == "debian-minbase":
        os_release = daemon.exec("cat", "/etc/os-release").stdout
        assert f"VERSION_CODENAME={host_codename()}" in os_release
        assert "daemon:x:1:1:" in passwd and "_apt:" in passwd, passwd
    else:
        expected = BUSYBOX_PASSWD if base[0] == "busybox-static" else REAL_LIB_PASSWD
        assert passwd == expected.decode()


def test_embed_keeps_the_base_links_and_directories(base: tuple[str, str], daemon: Dind) -> None:
    """A merged base should keep /lib64 and /lib as links; another base its own /lib, with the loader added."""
    script = "for p in /lib /lib64 /bin; do if [ -L $p ]; then echo $p link; elif [ -d $p ]; then echo $p dir; fi; done"
    kinds = dict(line.split() for line in daemon.exec("sh", "-c", script).stdout.splitlines())
    if base[0] == "debian-minbase":
        assert kinds == {"/lib": "link", "/lib64": "link", "/bin": "link"}, kinds
        assert daemon.exec("readlink", "/lib64").stdout.strip() == "usr/lib64"
        return
    assert kinds["/bin"] == "dir" and kinds["/lib64"] == "dir", kinds
    assert daemon.exec("busybox", "readlink", "/bin/sh").stdout.strip() == "busybox", "the base's /bin was replaced"
    if base[0] == "real-lib-no-lib64":
        assert kinds["/lib"] == "dir", kinds
        assert daemon.exec("cat", "/lib/base-marker").stdout == REAL_LIB_FILES["lib/base-marker"].decode()


def test_embed_base_programs_still_run(base: tuple[str, str], daemon: Dind) -> None:
    """The base's own tools (bash, apt-get, dpkg; or busybox's sh) should still run beside our files."""
    if base[0] == "debian-minbase":
        result = daemon.exec("bash", "-c", "apt-get --version | head -1 && dpkg -s base-files | grep -c Version")
        lines = result.stdout.split()
        assert result.stdout.startswith("apt ") and lines[-1] == "1", result.stdout
    else:
        result = daemon.exec("/bin/sh", "-c", "echo $(id -u) from the busybox of the base")
        assert result.stdout == "0 from the busybox of the base\n", result.stdout


def test_embed_nested_docker_runs_a_container(daemon: Dind, image: str) -> None:
    """The seed's checks: docker ps, the suite's engine version, a nested run with bridge networking."""
    assert daemon.exec("docker", "ps").stdout.startswith("CONTAINER ID")
    server = daemon.exec("docker", "version", "--format", "{{.Server.Version}}").stdout.strip()
    assert server.startswith(ENGINE_VERSIONS[image_suite(image)]), server
    result = daemon.exec("docker", "run", "--rm", NESTED_BUSYBOX, "sh", "-c", "echo embedded; ip -4 -o addr show eth0")
    assert result.stdout.startswith("embedded") and "inet " in result.stdout, result.stdout
