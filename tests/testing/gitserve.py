"""git repositories made on the host and served by `git daemon` inside a DinD container.

The daemon runs in the DinD container's network namespace (nsenter), so its 127.0.0.1 is
the nested dockerd's: nothing leaves the container, and the image needs no git-daemon.
"""

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.testing.engine import Dind, docker
from tests.testing.procs import sleep_until

PORT = 9418


def url(name: str) -> str:
    return f"git://127.0.0.1:{PORT}/{name}"


def git(repo: Path, *argv: str) -> None:
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "protocol.file.allow=always"]
    subprocess.run(["git", "-C", str(repo), *identity, *argv], check=True, capture_output=True)


def make_repo(repo: Path, files: dict[str, str], submodules: dict[str, str] | None = None) -> None:
    """A repository at ``repo`` with ``files`` committed, and ``submodules`` (path -> name).

    Each submodule is a repository beside ``repo``, recorded under its git:// URL.
    """
    repo.mkdir(parents=True)
    git(repo, "init", "-q")
    for name, text in files.items():
        (repo / name).write_text(text)
        git(repo, "add", name)
    for path, name in (submodules or {}).items():
        # Added from the local path (the daemon may not run yet), recorded with its URL.
        git(repo, "submodule", "add", "-q", str(repo.parent / name), path)
        git(repo, "config", "-f", ".gitmodules", f"submodule.{path}.url", url(name))
        git(repo, "add", ".gitmodules")
    git(repo, "commit", "-qm", "init")


@contextmanager
def git_daemon(container: Dind, base: Path, probe: str) -> Iterator[None]:
    """`git daemon` exporting every repository under ``base``, until it answers for ``probe``."""
    pid = docker("inspect", "-f", "{{.State.Pid}}", container.name).stdout.strip()
    server = subprocess.Popen(
        ["nsenter", "-t", pid, "-n", "git", "daemon", "--reuseaddr", "--export-all",
         "--listen=127.0.0.1", f"--port={PORT}", f"--base-path={base}", str(base)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert sleep_until(
            lambda: container.exec("git", "ls-remote", url(probe), check=False).returncode == 0
        ), "git daemon did not answer"
        yield
    finally:
        server.terminate()
        server.wait(timeout=10)
