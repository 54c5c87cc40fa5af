"""Figure: ten standalone DinD pods at once, start-up and memory per pod.

deploy/kubernetes/overlays/standalone rendered with kubectl's kustomize and run by the
tests' kubelet emulation (tests/testing/pods.py: a pause container per pod, the probes
run as the kubelet runs them), each pod with small limits (500m CPU, 384Mi) and its own
claim volume. Start-up is from the pod's first container to its readiness probe (the
image's HEALTHCHECK, `dockerlaunch --health`) passing; memory is the engine container's
cgroup usage (what the limit counts) after it loaded busybox and ran one nested
container. Baseline: the same pod alone on the machine, in the same run.
"""

from __future__ import annotations

from tests.testing.engine import docker, ensure_busybox_image, save_image, unique
from tests.testing.kubernetes import IMAGE, pod_spec, render
from tests.testing.pods import SMALL_RESOURCES, Pod, PodRun, delete_many, run_many, with_resources

from bench.session import Session
from bench.table import Detail, Figure, Results, format_value

PODS = 10
MB = 1e6


def bring_up(count: int, image: str, busybox: str, archive: str) -> list[PodRun]:
    """``count`` standalone pods at once; every one removed again, claims included."""
    spec = with_resources(pod_spec(render("standalone")), "dind", SMALL_RESOURCES)
    images = {IMAGE: image, "pause": busybox}
    claims = [unique("dfs-bench-claim") for _ in range(count)]
    pods = [Pod(unique(f"dfs-bench-dind-{i}"), spec, images, {"dind-data": claim}) for i, claim in enumerate(claims)]
    try:
        for claim in claims:
            docker("volume", "create", claim)
        return run_many(pods, busybox, archive)
    finally:
        delete_many(pods)
        for claim in claims:
            docker("volume", "rm", "-f", claim, check=False)


def measure(session: Session) -> Results:
    image = session.image()
    busybox = ensure_busybox_image()
    archive = str(save_image(busybox, session.work / "busybox.tar"))
    alone_runs = session.repetitions(3, 1)
    session.log(f"pods: {alone_runs} pod(s) alone, then {PODS} pods at once")
    alone: list[PodRun] = []
    for _ in range(alone_runs):
        alone += bring_up(1, image, busybox, archive)
    together = bring_up(PODS, image, busybox, archive)
    failed = [run.pod.name for run in together if run.answer != run.pod.name]
    error = f"nested containers did not answer in {', '.join(failed)}" if failed else ""
    startup = Figure(
        key="pods.startup",
        title=f"Pod start-up to ready, {PODS} standalone pods at once (per pod)",
        unit="s",
        runs=[run.ready_seconds for run in together],
        baseline_title="one pod alone",
        baseline_runs=[run.ready_seconds for run in alone],
        error=error,
        note="deploy/kubernetes standalone overlay run by the tests' kubelet emulation, 500m CPU and 384Mi "
        "limits; from the pod's first container to the readiness probe (dockerlaunch --health) passing; "
        "memory: the engine container's cgroup usage after one nested docker run",
    )
    memory = Figure(
        key="pods.memory",
        title=f"Memory per pod, {PODS} standalone pods at once (engine container's cgroup)",
        unit="MB",
        runs=[run.memory_bytes / MB for run in together],
        baseline_title="one pod alone",
        baseline_runs=[run.memory_bytes / MB for run in alone],
        error=error,
    )
    rows = [[run.pod.name, format_value(run.ready_seconds, "s"), format_value(run.memory_bytes / MB, "MB")]
            for run in together]  # fmt: skip
    detail = Detail(f"Pods: each of the {PODS} at once", ["pod", "start-up to ready", "memory"], rows)
    return Results([startup, memory], [detail])
