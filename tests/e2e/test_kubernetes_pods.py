"""deploy/kubernetes run as the kubelet would run it, on the host engine (tests/testing/pods.py).

The rendered pod specs are used as they are; only the images are local: ours for the
engine, a busybox-plus-our-docker-CLI image for the runner and job containers, busybox
as the pause container.
"""

from pathlib import Path

import pytest

from tests.testing.engine import docker, unique
from tests.testing.kubernetes import IMAGE, container, pod_spec, render
from tests.testing.pods import (
    SMALL_RESOURCES,
    Pod,
    delete_many,
    ensure_client_image,
    run_many,
    running_pod,
    with_resources,
)

# A nested service that stops cleanly on SIGTERM (exit 0), so a clean stop is visible.
SERVICE = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.2; done"]


@pytest.fixture(scope="module")
def images(default_image: str, busybox: str) -> dict[str, str]:
    """The manifests' image names mapped to local images (no registry).

    The default suite's image only: these tests check the manifests and the pod wiring,
    which no engine version changes (the TLS job, the socket and restarts run on both
    suites in test_dind_ci and test_reliability_*), and ten pods at once are costly.
    """
    client = ensure_client_image(default_image, busybox)
    runner = "ghcr.io/actions/actions-runner:latest"
    return {IMAGE: default_image, runner: client, "docker:cli": client, "pause": busybox}


def load_busybox(pod: Pod, client: str, busybox_tar: Path) -> None:
    pod.exec(client, "docker", "load", input=busybox_tar.read_bytes())


def test_kubernetes_arc_runner_runs_and_builds_through_the_shared_socket(
    images: dict[str, str], busybox: str, busybox_tar: Path
) -> None:
    """ARC's runner, uid 1001 in group 123, should `docker run` and `docker build` through the sidecar's socket."""
    spec = pod_spec(render("arc"))
    with running_pod(spec, images, name=unique("arc-runner")) as pod:
        assert pod.exit_codes["init-dind-externals"] == 0
        assert pod.probes["dind/startupProbe"].passed
        assert pod.exec("runner", "id", "-u").stdout.strip() == "1001"
        assert pod.exec("runner", "id", "-g").stdout.strip() == "123"
        socket = pod.exec("runner", "stat", "-c", "%u %g %a", "/var/run/docker.sock")
        assert socket.stdout.split() == ["0", "123", "660"]
        load_busybox(pod, "runner", busybox_tar)
        pod.exec("runner", "sh", "-c", "echo from-the-runner > _work/hello && mkdir _work/ctx")
        # The work directory is shared: a job's bind mount names a path the engine sees too.
        run = pod.exec("runner", "docker", "run", "--rm", "-v", "/home/runner/_work:/w",
                       "-v", "/home/runner/externals:/e", busybox, "cat", "/w/hello", "/e/node.txt")  # fmt: skip
        assert run.stdout.split() == ["from-the-runner", "externals"]
        dockerfile = f"FROM {busybox}\nRUN echo built-in-the-pod > /built\n"
        pod.exec("runner", "sh", "-c", f"printf '{dockerfile}' > _work/ctx/Dockerfile")
        pod.exec("runner", "docker", "build", "-q", "-t", "arc-built", "_work/ctx")
        built = pod.exec("runner", "docker", "run", "--rm", "arc-built", "cat", "/built")
        assert built.stdout.strip() == "built-in-the-pod"
        pod.exec("runner", "docker", "run", "-d", "--name", "job-service", busybox, *SERVICE)
        pod.stop()
    assert pod.exit_codes["runner"] == 0
    hook = pod.pre_stop["dind"]
    assert hook.returncode == 0, hook.stderr
    assert "stopping 1 nested container(s)" in hook.stderr
    assert pod.exit_codes["dind"] == 0


def test_kubernetes_gitlab_job_reaches_the_docker_service_over_tls(
    images: dict[str, str], busybox: str, busybox_tar: Path
) -> None:
    """The job container should reach tcp://docker:2376 (and localhost) over TLS with the shared client certificates."""
    spec = pod_spec(render("gitlab"))
    with running_pod(spec, images, name=unique("gitlab-job")) as pod:
        assert pod.exec("build", "ls", "/certs/client").stdout.split() == ["ca.pem", "cert.pem", "key.pem"]
        version = pod.exec("build", "docker", "version", "--format", "{{.Server.Version}}")
        assert version.stdout.strip()
        load_busybox(pod, "build", busybox_tar)
        assert pod.exec("build", "docker", "run", "--rm", busybox, "echo", "job").stdout.strip() == "job"
        local = pod.exec("build", "env", "DOCKER_HOST=tcp://localhost:2376", "docker", "info", "--format", "{{.ID}}")
        assert local.stdout.strip()
        plain = pod.exec("build", "env", "-u", "DOCKER_TLS_VERIFY", "-u", "DOCKER_CERT_PATH", "docker", "version",
                         check=False)  # fmt: skip
        assert plain.returncode != 0  # the port only speaks TLS


def test_kubernetes_statefulset_restart_keeps_images_and_prestop_stops_nested(
    images: dict[str, str], busybox: str, busybox_tar: Path
) -> None:
    """A StatefulSet pod restarted on its claim should keep its images; preStop should stop nested ones cleanly."""
    spec = pod_spec(render("standalone"))
    claim = unique("dfs-test-claim")
    docker("volume", "create", claim)
    name = unique("dind-0")
    try:
        with running_pod(spec, images, name=name, claims={"dind-data": claim}) as pod:
            assert pod.probes["dind/readinessProbe"].passed
            load_busybox(pod, "dind", busybox_tar)
            pod.exec("dind", "docker", "run", "-d", "--name", "service", busybox, *SERVICE)
            hook = container(spec, "dind")["lifecycle"]["preStop"]["exec"]["command"]
            stopped = pod.exec("dind", *hook)
            assert "stopping 1 nested container(s)" in stopped.stderr
            assert pod.exec("dind", "docker", "ps", "-q").stdout.strip() == ""
            pod.stop()
        assert pod.exit_codes["dind"] == 0
        with running_pod(spec, images, name=name, claims={"dind-data": claim}) as again:
            assert busybox in again.exec("dind", "docker", "images", "--format", "{{.Repository}}:{{.Tag}}").stdout
            state = again.exec("dind", "docker", "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "service")
            assert state.stdout.split() == ["exited", "0"]
    finally:
        docker("volume", "rm", "-f", claim, check=False)


def test_kubernetes_ten_standalone_pods_answer_and_run_nested(
    images: dict[str, str], busybox: str, busybox_tar: Path
) -> None:
    """Ten standalone pods at once, with small limits, should each become ready and run a nested container."""
    spec = with_resources(pod_spec(render("standalone")), "dind", SMALL_RESOURCES)
    claims = [unique("dfs-test-claim") for _ in range(10)]
    pods = [Pod(unique(f"dind-{index}"), spec, images, {"dind-data": claim}) for index, claim in enumerate(claims)]
    try:
        for claim in claims:
            docker("volume", "create", claim)
        runs = run_many(pods, busybox, str(busybox_tar))
        assert [run.answer for run in runs] == [pod.name for pod in pods]
        assert all(run.memory_bytes < 384 * 2**20 for run in runs)
    finally:
        delete_many(pods)
        for claim in claims:
            docker("volume", "rm", "-f", claim, check=False)
