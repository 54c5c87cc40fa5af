"""The host engine for the benchmarks: containers that clean up after themselves, /proc reads.

Every container and volume is named ``dfs-bench-<random>`` and removed (``rm -f -v``,
``volume rm -f``) when its ``with`` block ends, also on errors and Ctrl-C.
"""

from __future__ import annotations

import datetime
import itertools
import os
import re
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from bench.table import BenchError
from docker_from_scratch.host import privileged_flags

PREFIX = "dfs-bench"
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
# Stdlib-only scripts that run with the image's own interpreter, mounted at /bench.
IN_CONTAINER = os.path.join(BENCH_DIR, "incontainer")
MOUNT_POINT = "/bench"


def docker(*args: str, check: bool = True, timeout: float = 300, stdin: int | None = None) -> str:
    """Run the host docker CLI and return its stdout; one-line error with its stderr."""
    try:
        result = subprocess.run(
            ["docker", *args], stdin=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"docker {' '.join(args[:3])} ... took longer than {timeout:.0f} s") from None
    if check and result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no error output"])[-1]
        raise BenchError(f"docker {' '.join(args[:3])} ... failed: {last}")
    return result.stdout


def unique(what: str = "") -> str:
    return f"{PREFIX}-{what + '-' if what else ''}{uuid.uuid4().hex[:8]}"


def mount_scripts() -> tuple[str, ...]:
    return ("-v", f"{IN_CONTAINER}:{MOUNT_POINT}:ro")


@dataclass
class Container:
    name: str
    volume: str | None

    def host_pid(self) -> int:
        """The host pid of the container's PID 1."""
        pid = docker("inspect", "-f", "{{.State.Pid}}", self.name).strip()
        if not pid.isdigit() or pid == "0":
            raise BenchError(f"{self.name} is not running", hint=f"see docker logs {self.name}")
        return int(pid)

    def exec(self, *argv: str, timeout: float = 300) -> str:
        return docker("exec", self.name, *argv, timeout=timeout)

    def logs(self) -> str:
        result = subprocess.run(["docker", "logs", self.name], capture_output=True, text=True, check=False)
        return result.stdout + result.stderr


@contextmanager
def started(
    image: str, *args: str, options: Sequence[str] = (), data_volume: bool = True, data_root: str = "/var/lib/docker"
) -> Iterator[Container]:
    """``docker run -d`` our image with the privileged flags (and a fresh data volume)."""
    name = unique()
    volume = unique("data") if data_volume else None
    mounts = ("-v", f"{volume}:{data_root}") if volume else ()
    try:
        docker("run", "-d", "--name", name, *privileged_flags(), *mounts, *options, image, *args)
        yield Container(name, volume)
    finally:
        remove(name, volume)


def remove(name: str, volume: str | None = None) -> None:
    docker("rm", "-f", "-v", name, check=False, timeout=120)
    if volume:
        docker("volume", "rm", "-f", volume, check=False, timeout=120)


def run_attached(image: str, *args: str, options: Sequence[str] = (), timeout: float = 120) -> tuple[str, str]:
    """``docker run --rm`` in the foreground with the privileged flags; (stdout, stderr)."""
    name = unique()
    argv = ["docker", "run", "--rm", "--name", name, *privileged_flags(), *options, image, *args]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{name} ({image} {' '.join(args[:2])}) took longer than {timeout:.0f} s") from None
    finally:
        remove(name)  # normally gone already (--rm); after a timeout it is not
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no error output"])[-1]
        raise BenchError(f"container of {image} exited {result.returncode}: {last}")
    return result.stdout, result.stderr


# --- /proc of the host, looking into containers --------------------------------------------


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(p) for p in handle.read().split()]
    except OSError:
        return []


def comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def rss_kib(pid: int) -> int:
    """VmRSS of ``pid`` in KiB (what ps and top call RSS)."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchError(f"/proc/{pid}/status has no VmRSS (a kernel thread or a zombie?)")


def rollup_kib(pid: int) -> dict[str, int]:
    """/proc/PID/smaps_rollup in KiB: Rss, Pss (shared pages split among their sharers), Private_*."""
    found: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup") as handle:
        for line in handle:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                found[parts[0].rstrip(":")] = int(parts[1])
    if "Pss" not in found:
        raise BenchError(f"/proc/{pid}/smaps_rollup has no Pss (a kernel thread or a zombie?)")
    return found


def find_descendant(pid: int, name: str, depth: int = 3) -> int | None:
    """The first process named ``name`` among the descendants of ``pid``."""
    level = [pid]
    for _ in range(depth):
        level = [child for parent in level for child in children(parent)]
        for child in level:
            if comm(child) == name:
                return child
    return None


def ping(socket_path: str, timeout: float = 1.0) -> bool:
    """True when a Docker API answers ``GET /_ping`` with 200 on ``socket_path``."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(socket_path)
            sock.sendall(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
            return sock.recv(64).split(b"\r\n", 1)[0].split(b" ")[1:2] == [b"200"]
    except (OSError, IndexError):
        return False


def wait_for_api(
    container: Container, timeout: float = 120, interval: float = 0.01, socket: str = "/run/docker.sock"
) -> float:
    """Poll the nested daemon's socket from the host until it answers; monotonic time of the answer.

    The socket is reached through ``/proc/PID/root`` (the container's mount namespace),
    so polling costs a connect, not a ``docker exec`` (~100 ms each here), and the
    answer is seen within ``interval``.
    """
    deadline = time.monotonic() + timeout
    path = ""
    while time.monotonic() < deadline:
        if not path:
            pid = docker("inspect", "-f", "{{.State.Pid}}", container.name).strip()
            if pid.isdigit() and pid != "0":
                path = f"/proc/{pid}/root{socket}"
            elif docker("inspect", "-f", "{{.State.Status}}", container.name).strip() == "exited":
                break
        if path and ping(path):
            return time.monotonic()
        time.sleep(interval)
    tail = container.logs().strip().splitlines()[-3:]
    raise BenchError(f"the daemon in {container.name} did not answer in {timeout:.0f} s: {' / '.join(tail)}")


# dockerd's log lines carry the wall clock (UTC), in its text format (``time="...Z"``) and on
# a terminal (``INFO[...Z]``): "Starting up" is its first line, "API listen on" its ready line.
DOCKERD_LOG = re.compile(
    r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z\S*\s+(?:level=\w+\s+)?(?:msg=\")?(Starting up|API listen on)"
)


def dockerd_milestones(log: str) -> dict[str, float]:
    """Epoch seconds of dockerd's first "Starting up" and "API listen on" lines in ``log``."""
    found: dict[str, float] = {}
    for match in DOCKERD_LOG.finditer(log):
        when = datetime.datetime.fromisoformat(match.group(1) + "+00:00").timestamp()
        found.setdefault(match.group(3), when + float(match.group(2) or 0))
    return found


# One line of dockerd's text log: time="...Z" level=... msg="..." (quotes in msg escaped).
DOCKERD_LINE = re.compile(
    r'^time="(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z" level=\w+ msg="((?:[^"\\]|\\.)*)"', re.MULTILINE
)


def dockerd_pauses(log: str, at_least: float = 0.5) -> list[tuple[float, str]]:
    """Gaps of ``at_least`` seconds between consecutive dockerd log lines, longest first, each
    with the message logged just before it (what dockerd was waiting after)."""
    lines = [
        (datetime.datetime.fromisoformat(m.group(1) + "+00:00").timestamp() + float(m.group(2) or 0), m.group(3))
        for m in DOCKERD_LINE.finditer(log)
    ]
    gaps = [(later[0] - earlier[0], earlier[1]) for earlier, later in itertools.pairwise(lines)]
    return sorted((gap for gap in gaps if gap[0] >= at_least), key=lambda gap: -gap[0])
