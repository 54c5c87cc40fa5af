"""Graceful stop: `docker stop` of the DinD container stops the nested containers, dockerd
exits cleanly, and the container ends with status 0 (never the 137 of docker's SIGKILL).

What a stop costs (measured here, dockerd 26.1): dockerd sends each nested container
its stop signal and waits that container's own stop timeout (default 10 s, set with
`docker run --stop-timeout`) before SIGKILL, all in parallel; `--shutdown-timeout`
cannot shorten that (dockerd takes the longer of the two, plus 5 s). Then ~1 s to stop
containerd and exit. So with docker's default 10 s for the DinD container, nested
containers must stop on SIGTERM or carry a stop timeout of at most ~8 s; one that
ignores SIGTERM with the default 10 s needs `--stop-timeout 15` (or more) on the DinD
container, exactly as docker:dind does.

Both launcher modes: exec (the stop waiter is PID 1) and reap (docker-init is PID 1 and
forwards SIGTERM to the waiter alone). Since the clean stop became the default, the waiter
first stops nested containers with a 6 s grace (tests/e2e/test_stop_default.py); what
these tests check holds either way.
"""

import json
import time
from pathlib import Path

from tests.testing.engine import Dind, dind, docker
from tests.testing.procs import sleep_until
from tests.testing.reliability import SERVICE_SCRIPT, container_state, signalled_to_exit_s, volume_path

NESTED = "dfs-test-busybox:latest"


def reap_options(reap: bool) -> list[str]:
    return ["-e", f"DOCKER_LAUNCH_REAP={'true' if reap else 'false'}"]


def start_services(daemon: Dind, names: list[str]) -> None:
    """Nested services that stop on SIGTERM, each writing a mark into the volume "marks"."""
    for name in names:
        daemon.exec("docker", "run", "-d", "--name", name, "--hostname", name, "-v", "marks:/marks",
                    NESTED, "sh", "-c", SERVICE_SCRIPT)  # fmt: skip
    for name in names:  # the trap is set once "ready" is printed
        assert sleep_until(lambda n=name: "ready" in daemon.exec("docker", "logs", n).stdout), name


def nested_states(data_root: Path) -> dict[str, dict[str, object]]:
    """Name -> State of every nested container, from the stopped daemon's own records."""
    states = {}
    for config in (data_root / "containers").glob("*/config.v2.json"):
        record = json.loads(config.read_text())
        states[record["Name"].lstrip("/")] = record["State"]
    return states


def stop(daemon: Dind, *options: str) -> float:
    """`docker stop` the DinD container; returns the seconds from its SIGTERM to its exit."""
    since, start = time.time(), time.monotonic()
    docker("stop", *options, daemon.name, timeout=120)
    wall = time.monotonic() - start
    took = signalled_to_exit_s(daemon.name, since)
    took = wall if took is None else took
    print(f"docker stop {' '.join(options)} took {took:.1f} s from SIGTERM to exit ({wall:.1f} s with the CLI)")
    return took


def test_graceful_stop_exits_zero_with_nested_containers(image: str, busybox_tar: Path, both_reap_modes: bool) -> None:
    """`docker stop` (10 s) should stop nested services and a SIGTERM-deaf one (stop timeout 2 s) and exit 0."""
    with dind(image, run_options=reap_options(both_reap_modes)) as daemon:
        daemon.load_image(busybox_tar)
        services = ["svc-a", "svc-b"]
        start_services(daemon, services)
        # PID 1 without a handler ignores SIGTERM: dockerd must SIGKILL it after its 2 s.
        daemon.exec("docker", "run", "-d", "--name", "deaf", "--stop-timeout", "2", NESTED, "sleep", "100000")
        stop(daemon)
        state, log = container_state(daemon.name), daemon.logs()
        assert state["ExitCode"] == 0 and not state["OOMKilled"], f"{state}\n{log[-3000:]}"
        assert "Daemon shutdown complete" in log, log[-3000:]
        data_root = volume_path(daemon.volume)
        # Each service ran its SIGTERM handler ...
        assert sorted(p.name for p in (data_root / "volumes/marks/_data").iterdir()) == services
        # ... and dockerd recorded every container as stopped before it exited.
        states = nested_states(data_root)
        assert {name: (s["Running"], s["ExitCode"]) for name, s in states.items()} == {
            "svc-a": (False, 0), "svc-b": (False, 0), "deaf": (False, 137),
        }  # fmt: skip


def test_graceful_stop_waits_out_a_nested_stop_timeout(image: str, busybox_tar: Path) -> None:
    """A SIGTERM-deaf nested container (10 s default) should be killed by dockerd; exit 0 under --stop-timeout 20."""
    with dind(image, run_options=["--stop-timeout", "20"]) as daemon:
        daemon.load_image(busybox_tar)
        daemon.exec("docker", "run", "-d", "--name", "deaf", NESTED, "sleep", "100000")
        stop(daemon)
        state, log = container_state(daemon.name), daemon.logs()
        assert state["ExitCode"] == 0, f"{state}\n{log[-3000:]}"
        assert "Daemon shutdown complete" in log, log[-3000:]
        deaf = nested_states(volume_path(daemon.volume))["deaf"]
        assert (deaf["Running"], deaf["ExitCode"]) == (False, 137), deaf


def test_stop_grace_fits_default_stop_timeout_with_deaf_containers(image: str, busybox_tar: Path) -> None:
    """With DOCKER_LAUNCH_STOP_GRACE=3, SIGTERM-deaf nested containers (10 s default) fit docker's 10 s: exit 0."""
    with dind(image, run_options=["-e", "DOCKER_LAUNCH_STOP_GRACE=3"]) as daemon:
        daemon.load_image(busybox_tar)
        for name in ("deaf-a", "deaf-b", "deaf-c"):
            daemon.exec("docker", "run", "-d", "--name", name, NESTED, "sleep", "100000")
        took = stop(daemon)
        state, log = container_state(daemon.name), daemon.logs()
        assert state["ExitCode"] == 0, f"took {took:.1f} s: {state}\n{log[-3000:]}"
        assert "stop grace: dockerd stops 3 nested container(s); any left after 3 s are killed" in log, log[-3000:]
        assert "Daemon shutdown complete" in log, log[-3000:]
        states = nested_states(volume_path(daemon.volume))
        assert {name: (s["Running"], s["ExitCode"]) for name, s in states.items()} == {
            "deaf-a": (False, 137), "deaf-b": (False, 137), "deaf-c": (False, 137),
        }  # fmt: skip
