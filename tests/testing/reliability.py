"""Reliability helpers: run the real launcher on bad input in a private mount namespace.

``launch_in_namespace(argv, ...)`` starts this file under
``unshare --mount --net --pid --fork --mount-proc --propagation private``. Inside, it mounts a tmpfs on /run (so a
launcher that wrongly gets past its checks cannot delete the host engine's pid files),
runs the case's ``setup`` shell script (e.g. a read-only tmpfs as the data root), reads
/proc/self/mountinfo, runs the venv's ``dockerlaunch`` (or any argv) with the case's
environment, reads mountinfo again, and prints one JSON line. The host's mount table and
network are never touched, and whatever the run left running dies with the PID namespace.
"""

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"
DOCKERLAUNCH = VENV_BIN / "dockerlaunch"
HOST_CLI = VENV_BIN / "docker-from-scratch"
PLACEHOLDER = REPO / "tests" / "testing" / "placeholder_dockerd.py"
_MARKER = "@@reliability-result@@ "
# A launcher that gets past its checks runs the place-holder, which waits for a signal:
# the child kills it after this many seconds and the outcome says so.
RUN_TIMEOUT = 10.0


@dataclass
class Outcome:
    """How one invocation ended, and the mount tables around it."""

    returncode: int
    stdout: str
    stderr: str
    timed_out: bool
    mounts_before: list[str]
    mounts_after: list[str]

    @property
    def new_mounts(self) -> list[str]:
        """Mount lines (id, point, type, source) present after the run but not before."""
        return sorted(set(self.mounts_after) - set(self.mounts_before))

    def lines(self, prefix: str) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith(prefix)]


def _mount_keys(text: str) -> list[str]:
    """mountinfo reduced to what identifies a mount: id, mount point, type and source."""
    keys = []
    for line in text.splitlines():
        fields = line.split(" ")
        dash = fields.index("-", 6)
        keys.append(f"{fields[0]} {fields[4]} {fields[dash + 1]} {fields[dash + 2]} {fields[5]}")
    return keys


def launch_in_namespace(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    setup: str = "",
    timeout: float = RUN_TIMEOUT,
) -> Outcome:
    """Run ``argv`` in a private mount and network namespace; see the module docstring.

    ``env`` is the whole environment of the run (PATH included); ``setup`` is a shell
    script run inside the namespace first (set -e), its mounts part of "before".
    """
    spec = {"argv": list(argv), "env": dict(env or {}), "setup": setup, "timeout": timeout}
    command = ["unshare", "--mount", "--net", "--pid", "--fork", "--mount-proc", "--propagation", "private", "--",
               sys.executable, os.fspath(Path(__file__).resolve()), json.dumps(spec)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout + 30, check=False)
    for line in reversed(result.stdout.splitlines()):
        if line.startswith(_MARKER):
            data = json.loads(line[len(_MARKER) :])
            return Outcome(**data)
    raise AssertionError(
        f"namespace child exited {result.returncode} without a result\n"
        f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
    )


def launcher_env(**extra: str) -> dict[str, str]:
    """A clean environment for the launcher: PATH without dockerd's directory unless the
    case adds it, no TLS step (DOCKER_TLS_CERTDIR='': nothing is written to /certs)."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "DOCKER_TLS_CERTDIR": "", "LANG": "C.UTF-8"}
    env.update(extra)
    return env


def _child(spec: dict[str, object]) -> None:
    """Inside the namespaces: shield /run, set up, snapshot, run, snapshot, report."""
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run"], check=True)
    setup = str(spec["setup"])
    if setup:
        subprocess.run(["sh", "-ec", setup], check=True)
    with open("/proc/self/mountinfo") as handle:
        before = _mount_keys(handle.read())
    argv = [str(a) for a in spec["argv"]]  # type: ignore[attr-defined]
    env = {str(k): str(v) for k, v in spec["env"].items()}  # type: ignore[attr-defined]
    timed_out = False
    try:
        run = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=float(spec["timeout"]),  # type: ignore[arg-type]
            stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip
        returncode, stdout, stderr = run.returncode, run.stdout, run.stderr
    except subprocess.TimeoutExpired as exc:
        timed_out = True
        returncode = -9
        stdout = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
    with open("/proc/self/mountinfo") as handle:
        after = _mount_keys(handle.read())
    result = {
        "returncode": returncode, "stdout": stdout, "stderr": stderr, "timed_out": timed_out,
        "mounts_before": before, "mounts_after": after,
    }  # fmt: skip
    sys.stdout.write(_MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    _child(json.loads(sys.argv[1]))


# --- e2e: the DinD container seen from the host ---------------------------------------------

# A nested service that stops on SIGTERM as a well-behaved server does: the handler writes
# a mark (when /marks is mounted) and exits 0. `sleep & wait`, because a trap runs only
# once the foreground command returns, and `wait` returns at once on a trapped signal.
SERVICE_SCRIPT = (
    "trap 'echo stopped > /marks/$(hostname) 2>/dev/null; exit 0' TERM; "
    "echo ready; sleep 100000 & wait"
)


def container_pid(name: str) -> int:
    """The host pid of a container's PID 1 (0 when it is not running)."""
    from tests.testing.engine import docker

    return int(docker("inspect", "-f", "{{.State.Pid}}", name).stdout.strip() or 0)


def container_state(name: str) -> dict[str, object]:
    """``docker inspect``'s State of a host container."""
    from tests.testing.engine import docker

    return dict(json.loads(docker("inspect", "-f", "{{json .State}}", name).stdout))


def docker_time(stamp: str) -> float:
    """docker's RFC 3339 time with nanoseconds, as seconds since the epoch."""
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    return datetime.fromisoformat(whole + "+00:00").timestamp() + float(f"0.{fraction or 0}")


def ran_s(name: str) -> float:
    """Seconds container ``name`` ran (State.StartedAt to FinishedAt): its own time, without
    the docker CLI's start and exit or the engine's container creation."""
    state = container_state(name)
    return docker_time(str(state["FinishedAt"])) - docker_time(str(state["StartedAt"]))


def signalled_to_exit_s(name: str, since: float) -> float | None:
    """Seconds from the host engine's first signal to container ``name`` after ``since``
    (its `kill` event) to the container's exit (State.FinishedAt): the stop itself,
    without the docker CLI's own start and exit on a busy machine. None: no such event."""
    import time

    from tests.testing.engine import docker

    events = docker(
        "events", "--since", f"{since:.3f}", "--until", f"{time.time() + 0.5:.3f}",
        "--filter", f"container={name}", "--filter", "event=kill", "--format", "{{.TimeNano}}",
    ).stdout.split()  # fmt: skip
    if not events:
        return None
    return docker_time(str(container_state(name)["FinishedAt"])) - int(events[0]) / 1e9


def volume_path(volume: str) -> Path:
    """Where a host volume's data lives on this machine (the nested daemon's data root)."""
    from tests.testing.engine import docker

    return Path(docker("volume", "inspect", "-f", "{{.Mountpoint}}", volume).stdout.strip())


def status_kib(pid: int, field: str) -> int:
    """A ``kB`` field of /proc/PID/status (VmRSS, RssAnon ...)."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def rollup_kib(pid: int, field: str) -> int:
    """A ``kB`` field of /proc/PID/smaps_rollup (Pss: shared pages counted once across sharers)."""
    with open(f"/proc/{pid}/smaps_rollup") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/smaps_rollup")


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def mount_points(pid: int) -> list[str]:
    """Mount points in the mount namespace of ``pid``."""
    with open(f"/proc/{pid}/mountinfo") as handle:
        return [line.split(" ")[4] for line in handle]


def net_devices(pid: int) -> list[str]:
    """Network interfaces in the network namespace of ``pid`` (/proc/PID/net/dev)."""
    with open(f"/proc/{pid}/net/dev") as handle:
        return [line.split(":")[0].strip() for line in handle.readlines()[2:]]


def _pid_namespace(pid: int | str) -> str:
    return os.readlink(f"/proc/{pid}/ns/pid")


def zombies_in_namespace(pid: int) -> list[str]:
    """'pid (comm)' of every zombie in the PID namespace of ``pid`` (host pids)."""
    # Imported here: this file also runs as a script inside namespaces, without tests/ on sys.path.
    from tests.testing.procs import process_stats

    namespace = _pid_namespace(pid)
    found = []
    for other, comm, state, _ in process_stats():
        try:
            if state == "Z" and _pid_namespace(other) == namespace:
                found.append(f"{other} ({comm})")
        except OSError:
            continue
    return found
