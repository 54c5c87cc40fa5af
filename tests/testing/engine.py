"""The host Docker engine, images made locally (no registry pulls), and DinD containers."""

import io
import os
import subprocess
import tarfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from docker_from_scratch.host import minimal_flags, privileged_flags

BUSYBOX = Path("/bin/busybox")  # Debian's busybox-static
BUSYBOX_TAG = "dfs-test-busybox:latest"
BUSYBOX_APPLETS = ("sh", "echo", "cat", "sleep", "ls", "true", "false", "ip", "hostname", "wget", "nc", "id", "ps")


def docker(
    *args: str, check: bool = True, input: bytes | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the host docker CLI; on failure raise with its stderr in the message."""
    raw = subprocess.run(["docker", *args], input=input, capture_output=True, timeout=timeout, check=False)
    result = subprocess.CompletedProcess(
        raw.args, raw.returncode, raw.stdout.decode(errors="replace"), raw.stderr.decode(errors="replace")
    )
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def engine_available() -> bool:
    try:
        return subprocess.run(["docker", "version"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def image_exists(tag: str) -> bool:
    return docker("image", "inspect", tag, check=False).returncode == 0


# This machine's mirror serves forky and sid with expired Release files (see the README):
# the tests opt in for those suites only; the default build never does.
EXPIRED_SUITES = ("forky", "sid")
# The docker.io each suite gives (the README's suite table): what `docker version` reports.
ENGINE_VERSIONS = {"trixie": "26.1.", "forky": "28.5.", "sid": "28.5."}


def image_suite(tag: str) -> str:
    """The Debian suite our image was built from (its docker-from-scratch.suite label)."""
    return docker(
        "image", "inspect", "--format", '{{index .Config.Labels "docker-from-scratch.suite"}}', tag
    ).stdout.strip()


def engine_major(suite: str) -> int:
    """The major version of the docker.io ``suite`` gives (26 for trixie, 28 for forky)."""
    return int(ENGINE_VERSIONS[suite].split(".", 1)[0])


@contextmanager
def image_without(image: str, directory: str, prefix: str, tag: str) -> Iterator[str]:
    """``image`` with every ``directory``/``prefix``* file deleted, built locally as ``tag``
    (the image's own python3 deletes them: it has no rm); removed afterwards."""
    script = f"import os; os.chdir({directory!r}); [os.remove(n) for n in os.listdir() if n.startswith({prefix!r})]"
    dockerfile = f'FROM {image}\nRUN ["python3", "-I", "-c", "{script}"]\n'
    docker("build", "-q", "-t", tag, "-", input=dockerfile.encode(), timeout=300)
    try:
        yield tag
    finally:
        docker("image", "rm", "-f", tag, check=False)


ROOT_PASSWD = b"root:x:0:0:root:/root:/bin/sh\n"


def busybox_rootfs_tar(
    passwd: bytes = ROOT_PASSWD, files: dict[str, bytes] | None = None, busybox: Path = BUSYBOX
) -> bytes:
    """A root file system of Debian's static busybox and its applet links, as a tar.

    Only /bin, /tmp and /etc: no /usr, /lib or /lib64 (a base that is not merged-/usr).
    ``files`` adds more regular files by path (their directories are made as real ones).
    """
    extra = files or {}
    directories = {"bin", "tmp", "etc"} | {parent for path in extra for parent in _parents(path)}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory in sorted(directories):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
        tar.add(busybox, arcname="bin/busybox")
        for applet in BUSYBOX_APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
        for path, data in {"etc/passwd": passwd, **extra}.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _parents(path: str) -> list[str]:
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def import_rootfs(tar: bytes, tag: str) -> str:
    """`docker import` a root file system tar as ``tag`` (a local image, no registry)."""
    subprocess.run(
        ["docker", "import", "--change", 'CMD ["sh"]', "-", tag],
        input=tar, capture_output=True, check=True, timeout=120,
    )  # fmt: skip
    return tag


def ensure_busybox_image(tag: str = BUSYBOX_TAG) -> str:
    """Import the busybox image into the host engine once; return its tag."""
    if not image_exists(tag):
        import_rootfs(busybox_rootfs_tar(), tag)
    return tag


def save_image(tag: str, path: Path) -> Path:
    """`docker save` a host image to a file, to load it into a nested daemon."""
    if not path.exists():
        docker("save", "-o", os.fspath(path), tag)
    return path


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Dind:
    """A running DinD container of our image; ``exec`` runs a command inside it."""

    name: str
    volume: str

    def exec(
        self, *argv: str, check: bool = True, input: bytes | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        options = ["-i"] if input is not None else []
        return docker("exec", *options, self.name, *argv, check=check, input=input, timeout=timeout)

    def logs(self) -> str:
        result = docker("logs", self.name, check=False)
        return result.stdout + result.stderr

    def load_image(self, tar: Path) -> None:
        with open(tar, "rb") as handle:
            result = subprocess.run(
                ["docker", "exec", "-i", self.name, "docker", "load"],
                stdin=handle, capture_output=True, text=True, timeout=300, check=False,
            )  # fmt: skip
        if result.returncode != 0:
            raise AssertionError(f"docker load inside {self.name} failed: {result.stderr.strip()}")

    def wait_ready(self, timeout: float = 90) -> None:
        """Until the nested daemon answers `docker version`; fail with the container's log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.exec("docker", "version", check=False, timeout=30).returncode == 0:
                return
            state = docker("inspect", "-f", "{{.State.Running}}", self.name, check=False).stdout.strip()
            if state == "false":
                break
            time.sleep(0.3)
        raise AssertionError(f"nested dockerd in {self.name} did not answer; log:\n{self.logs()[-4000:]}")


def dind_flags() -> tuple[str, ...]:
    """The flags DinD containers of the tests get: privileged (or its equivalent), or with
    DFS_DIND_FLAGS=minimal the minimal set (test_flags_minimal runs whole suites so)."""
    mode = os.environ.get("DFS_DIND_FLAGS", "privileged")
    if mode not in ("privileged", "minimal"):
        raise AssertionError(f"DFS_DIND_FLAGS={mode!r}: use privileged or minimal")
    return minimal_flags() if mode == "minimal" else privileged_flags()


@contextmanager
def dind(
    image: str,
    *args: str,
    run_options: Sequence[str] = (),
    volume: str | None = None,
    keep_volume: bool = False,
    wait: bool = True,
    data_root: str = "/var/lib/docker",
    flags: Sequence[str] | None = None,
) -> Iterator[Dind]:
    """Start our image as a DinD daemon (privileged flags unless ``flags``, a named volume for its data root)."""
    name = unique("dfs-test")
    volume = volume or unique("dfs-test-data")
    docker(
        "run", "-d", "--name", name, *(dind_flags() if flags is None else flags),
        "-v", f"{volume}:{data_root}", *run_options, image, *args,
    )  # fmt: skip
    container = Dind(name, volume)
    try:
        if wait:
            container.wait_ready()
        yield container
    finally:
        docker("rm", "-f", "-v", name, check=False)
        if not keep_volume:
            docker("volume", "rm", "-f", volume, check=False)


def in_netns_of(container: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run a host program (ethtool, ip) in a running container's network namespace."""
    pid = docker("inspect", "-f", "{{.State.Pid}}", container).stdout.strip()
    return subprocess.run(["nsenter", "-t", pid, "-n", *argv], capture_output=True, text=True, check=True, timeout=60)
