"""`docker-from-scratch flags --minimal`: the image runs nested containers and builds under
the smallest flag set, and each flag of the set is needed: without it the pre-flight
refuses in one line, naming what is missing and the flag that fixes it, in under a second."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from docker_from_scratch.builder.options import DEFAULT_SUITE
from docker_from_scratch.host import MINIMAL_FLAGS, minimal_flags
from tests.testing.engine import dind, docker, unique
from tests.testing.reliability import REPO, ran_s

NESTED = "dfs-test-busybox:latest"
# flag removed -> words the pre-flight's one error line must carry (what is missing, the fix).
REFUSALS = {
    "SYS_ADMIN": ("CAP_SYS_ADMIN", "--cap-add SYS_ADMIN"),
    "NET_ADMIN": ("CAP_NET_ADMIN", "--cap-add NET_ADMIN"),
    "seccomp=unconfined": ("keyctl", "--security-opt seccomp=unconfined"),
    "systempaths=unconfined": ("/proc/sys", "--security-opt systempaths=unconfined"),
}


def test_flags_verb_prints_the_minimal_set() -> None:
    """`docker-from-scratch flags --minimal` should print the set the tests start the image with."""
    out = subprocess.run([REPO / ".venv/bin/docker-from-scratch", "flags", "--minimal"], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    assert out.split() == list(minimal_flags())


def test_flags_minimal_runs_nested_containers_and_builds(image: str, busybox_tar: Path) -> None:
    """Under the minimal flags a nested docker run and a nested build should work."""
    with dind(image, flags=minimal_flags()) as daemon:
        daemon.load_image(busybox_tar)
        assert daemon.exec("docker", "run", "--rm", NESTED, "echo", "nested").stdout.strip() == "nested"
        dockerfile = f"FROM {NESTED}\nRUN echo built > /built\n".encode()
        daemon.exec("docker", "build", "-q", "-t", "dfs-minimal-build", "-", input=dockerfile)
        assert daemon.exec("docker", "run", "--rm", "dfs-minimal-build", "cat", "/built").stdout.strip() == "built"


def test_flags_minimal_pass_the_seed_and_dind_drop_in_suites(default_image: str) -> None:
    """The seed's and docker:dind's drop-in e2e suites should pass with every DinD container under the minimal set."""
    env = {**os.environ, "DFS_DIND_FLAGS": "minimal", "DFS_IMAGE": default_image, "DFS_SUITES": DEFAULT_SUITE}
    suites = ["tests/e2e/test_seed.py", "tests/e2e/test_dind_ci.py"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *suites],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1200, check=False,
    )  # fmt: skip
    summary = result.stdout.strip().splitlines()[-1:] or ["(no output)"]
    print(f"under {' '.join(minimal_flags())}: {summary[0]}")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " passed" in summary[0] and "failed" not in summary[0], summary


@pytest.mark.parametrize("removed", [pair[1] for pair, _ in MINIMAL_FLAGS])
def test_flags_minimal_each_flag_is_needed(image: str, removed: str) -> None:
    """Without one flag of the set the pre-flight should refuse in one line naming it, exit 1, under 1 s."""
    flags = [word for pair, _ in MINIMAL_FLAGS if pair[1] != removed for word in pair]
    name = unique("dfs-test-minus")
    try:
        docker("run", "-d", "--name", name, *flags, image)
        deadline = time.monotonic() + 60
        while docker("inspect", "-f", "{{.State.Running}}", name).stdout.strip() == "true":
            assert time.monotonic() < deadline, f"still running without {removed}"
            time.sleep(0.2)
        state = json.loads(docker("inspect", "-f", "{{json .State}}", name).stdout)
        logs = docker("logs", name, check=False)
        errors = [line for line in logs.stderr.splitlines() if line.startswith("dockerlaunch: error:")]
        assert state["ExitCode"] == 1 and len(errors) == 1, f"{state}\n{logs.stderr}"
        for word in REFUSALS[removed]:
            assert word in errors[0], errors[0]
        took = ran_s(name)
        print(f"without {removed}: refused in {took:.2f} s: {errors[0]}")
        assert took < 1.0, took
    finally:
        docker("rm", "-f", "-v", name, check=False)
