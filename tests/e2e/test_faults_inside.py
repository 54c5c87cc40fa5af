"""Faults inside the DinD container: kill -9 of the nested containerd, then of the nested
dockerd, then of PID 1 (docker-init). Each ends in a known state (README, Guarantees):

    killed        what follows
    containerd    dockerd starts a new one: the daemon recovers by itself, running
                  nested containers keep running (their shims outlive containerd)
    dockerd       the stop waiter and docker-init exit 137: the DinD container exits
                  non-zero, and `--restart on-failure` brings it back
    docker-init   the DinD container exits 137 (PID 1 gone), and comes back the same way

After each restart images, volumes and stopped containers are intact.
"""

import os
import signal
import time
from pathlib import Path

from tests.testing.engine import Dind, dind, docker
from tests.testing.procs import process_stats, sleep_until
from tests.testing.reliability import container_pid, container_state

NESTED = "dfs-test-busybox:latest"


def descendant(pid: int, comm: str) -> int:
    """The first descendant of ``pid`` named ``comm`` (0 when there is none).

    By parent pid from /proc/PID/stat: a Go daemon forks from any of its threads, and
    /proc/PID/task/PID/children lists only the children of the main one.
    """
    parents = {child: parent for child, _, _, parent in process_stats()}
    names = {child: name for child, name, _, _ in process_stats()}
    for child in sorted(parents):
        ancestor = parents[child]
        while ancestor > 1 and ancestor != pid:
            ancestor = parents.get(ancestor, 0)
        if ancestor == pid and names.get(child) == comm:
            return child
    return 0


def prepare(daemon: Dind, busybox_tar: Path) -> None:
    """An image, a volume with data, a stopped container and a running one, inside."""
    daemon.load_image(busybox_tar)
    daemon.exec("docker", "run", "--name", "stopped", "-v", "data:/data", NESTED, "sh", "-c", "echo kept > /data/mark")
    daemon.exec("docker", "run", "-d", "--name", "running", NESTED, "sleep", "100000")


def assert_intact(daemon: Dind) -> None:
    """Image, volume data and the stopped container survived; a nested run works."""
    assert daemon.exec("docker", "image", "inspect", NESTED, check=False).returncode == 0, daemon.logs()[-2000:]
    state = daemon.exec("docker", "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "stopped").stdout.strip()
    assert state == "exited 0", state
    result = daemon.exec("docker", "run", "--rm", "-v", "data:/data", NESTED, "cat", "/data/mark")
    assert result.stdout.strip() == "kept", result


def die_statuses(daemon: Dind, since: str) -> list[str]:
    """Exit statuses of the DinD container's deaths since ``since`` (host engine events)."""
    events = docker("events", "--since", since, "--until", str(int(time.time()) + 1), "--filter",
                    f"container={daemon.name}", "--filter", "event=die", "--format",
                    "{{.Actor.Attributes.exitCode}}").stdout  # fmt: skip
    return events.split()


def restarted(daemon: Dind, count: int) -> None:
    """Until docker restarted the DinD container ``count`` times and the nested daemon answers."""
    def again() -> bool:
        state = docker("inspect", "-f", "{{.RestartCount}} {{.State.Running}}", daemon.name).stdout.split()
        return state == [str(count), "true"]

    assert sleep_until(again, timeout=60), docker("inspect", "-f", "{{json .State}}", daemon.name).stdout
    daemon.wait_ready()


def test_faults_kill_9_inside_end_in_known_states(image: str, busybox_tar: Path) -> None:
    """kill -9 of containerd should self-heal; of dockerd and of PID 1 should exit 137 and come back intact."""
    with dind(image, run_options=["--restart", "on-failure"]) as daemon:
        prepare(daemon, busybox_tar)
        pid1 = container_pid(daemon.name)

        # 1. containerd: dockerd's supervisor starts a new one.
        containerd = descendant(pid1, "containerd")
        assert containerd, "no nested containerd"
        os.kill(containerd, signal.SIGKILL)
        started = time.monotonic()
        assert sleep_until(lambda: descendant(pid1, "containerd") not in (0, containerd), timeout=60)
        assert sleep_until(lambda: daemon.exec("docker", "run", "--rm", NESTED, "true", check=False).returncode == 0,
                           timeout=60), daemon.logs()[-3000:]  # fmt: skip
        print(f"containerd killed: a nested run works again after {time.monotonic() - started:.1f} s")
        assert container_pid(daemon.name) == pid1, "the DinD container should not have restarted"
        running = daemon.exec("docker", "inspect", "-f", "{{.State.Running}}", "running").stdout.strip()
        assert running == "true", "the running nested container should outlive containerd"
        assert_intact(daemon)

        # 2. dockerd: the container exits 137 and is restarted.
        for count, victim in ((1, "dockerd"), (2, "docker-init")):
            pid1 = container_pid(daemon.name)
            target = pid1 if victim == "docker-init" else descendant(pid1, victim)
            assert target and Path(f"/proc/{target}/comm").read_text().strip() == victim
            started, since = time.monotonic(), str(int(time.time()) - 1)
            os.kill(target, signal.SIGKILL)
            restarted(daemon, count)
            print(f"{victim} killed: the DinD container answers again after {time.monotonic() - started:.1f} s")
            assert die_statuses(daemon, since) == ["137"]
            assert container_state(daemon.name)["Running"] is True
            assert_intact(daemon)
