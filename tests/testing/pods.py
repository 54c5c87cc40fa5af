"""Kubernetes pods emulated on the host engine, the way the kubelet wires them.

No cluster here: a rendered pod spec (tests/testing/kubernetes.py) is run container by
container with the host engine, as the kubelet would run it:

- one network namespace and hostname for the pod: a pause container owns them (with the
  spec's hostAliases in its /etc/hosts), every other container joins it with
  ``--network container:PAUSE``;
- each emptyDir is a fresh directory (mode 0777, as the kubelet makes it) bind-mounted
  into the containers that name it, subPath included; a PersistentVolumeClaim is a named
  host volume the caller keeps across pod restarts;
- command and args, env (values, the downward API's name and namespace, $(VAR) references),
  runAsUser/runAsGroup, privileged (the host's equivalent flag set), memory and CPU limits;
- init containers one after the other; a native sidecar (restartPolicy: Always) is left
  running, and the next container starts once its startup probe has passed;
- exec probes run with ``docker exec`` in the container, as the kubelet's exec probes do,
  with the spec's period, timeout and failure threshold;
- on deletion the main containers stop first, then the sidecars in reverse order; each
  runs its preStop hook, then gets SIGTERM and the rest of the grace period.
"""

import contextlib
import hashlib
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from docker_from_scratch.host import privileged_flags
from tests.testing.engine import docker, unique

DEFAULT_GRACE = 30  # the kubelet's terminationGracePeriodSeconds default
_REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def volume_path(volume: str) -> str:
    """Where a named host volume keeps its files (bind-mounted like a kubelet's volume dir)."""
    return docker("volume", "inspect", "-f", "{{.Mountpoint}}", volume).stdout.strip()


def expand(value: str, env: Mapping[str, str]) -> str:
    """The kubelet's $(VAR) expansion: known names are replaced, unknown ones stay as written."""
    return _REFERENCE.sub(lambda match: env.get(match.group(1), match.group(0)), value)


def memory_flag(quantity: str) -> str:
    """A Kubernetes memory quantity (256Mi, 2Gi, 1G) as docker's --memory bytes."""
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 10**3, "M": 10**6, "G": 10**9}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return str(int(float(quantity[: -len(suffix)]) * factor))
    return quantity


def cpu_flag(quantity: str) -> str:
    """A Kubernetes CPU quantity (500m, 2) as docker's --cpus."""
    return str(int(quantity[:-1]) / 1000) if quantity.endswith("m") else quantity


# Stand-in for the runner and job images (actions-runner, docker:cli): our image's docker
# CLI and libraries with busybox for a shell, a runner home owned by uid 1001 and group 123,
# and a run.sh that waits as the runner's listener would. Built locally: no pulls.
CLIENT_DOCKERFILE = """\
FROM {busybox} AS busybox
FROM {image}
COPY --from=busybox /bin/busybox /usr/local/bin/busybox
RUN ["/usr/local/bin/busybox", "--install", "-s", "/usr/local/bin"]
COPY --chown=1001:123 home /home/runner
ENV HOME=/home/runner
WORKDIR /home/runner
ENTRYPOINT []
CMD ["sh"]
"""
RUN_SH = """#!/usr/local/bin/sh
# The runner's listener would wait for jobs here; like it, this one ends on SIGTERM.
trap 'exit 0' TERM
while :; do sleep 1; done
"""


def ensure_client_image(image: str, busybox: str) -> str:
    """The local runner/job image for ``image`` (tagged by its ID, built once)."""
    image_id = docker("image", "inspect", "-f", "{{.Id}}", image).stdout.strip()
    tag = f"dfs-test-client:{hashlib.sha256(image_id.encode()).hexdigest()[:12]}"
    if docker("image", "inspect", tag, check=False).returncode == 0:
        return tag
    with tempfile.TemporaryDirectory(prefix="dfs-client-") as context:
        os.makedirs(os.path.join(context, "home", "externals"))
        with open(os.path.join(context, "home", "run.sh"), "w") as handle:
            handle.write(RUN_SH)
        os.chmod(os.path.join(context, "home", "run.sh"), 0o755)
        with open(os.path.join(context, "home", "externals", "node.txt"), "w") as handle:
            handle.write("externals\n")
        with open(os.path.join(context, "Dockerfile"), "w") as handle:
            handle.write(CLIENT_DOCKERFILE.format(busybox=busybox, image=image))
        docker("build", "-q", "-t", tag, context, timeout=600)
    return tag


@dataclass
class ProbeResult:
    passed: bool
    attempts: int
    seconds: float
    output: str


@dataclass
class Pod:
    """One emulated pod: its containers by spec name, and the volumes it made.

    ``images`` maps the spec's image names to local images, plus ``"pause"`` for the pause
    container (busybox here); ``claims`` maps claim names to named host volumes.
    """

    name: str
    spec: dict[str, Any]
    images: Mapping[str, str]
    claims: Mapping[str, str]
    namespace: str = "default"
    containers: dict[str, str] = field(default_factory=dict)  # spec name -> docker name
    pause: str = ""
    volumes: list[str] = field(default_factory=list)  # emptyDir host volumes we made
    paths: dict[str, str] = field(default_factory=dict)  # pod volume name -> host path
    probes: dict[str, ProbeResult] = field(default_factory=dict)  # "container/kind" -> result
    pre_stop: dict[str, subprocess.CompletedProcess[str]] = field(default_factory=dict)
    exit_codes: dict[str, int] = field(default_factory=dict)

    # --- start ---------------------------------------------------------------------------

    def start(self, wait_ready: bool = True) -> None:
        self._make_volumes()
        self._start_pause()
        for item in self.spec.get("initContainers", []):
            if item.get("restartPolicy") == "Always":
                self._run(item, detach=True)
                self.probe(item, "startupProbe")
            else:
                self._run(item, detach=False)
        for item in self.spec["containers"]:
            self._run(item, detach=True)
        for item in self.spec["containers"]:
            self.probe(item, "startupProbe")
        if wait_ready:
            for item in [*self.spec.get("initContainers", []), *self.spec["containers"]]:
                self.probe(item, "readinessProbe")

    def _make_volumes(self) -> None:
        for volume in self.spec.get("volumes", []):
            if "emptyDir" in volume:
                name = unique(f"dfs-pod-{volume['name']}")
                docker("volume", "create", name)
                self.volumes.append(name)
                path = volume_path(name)
                os.chmod(path, 0o777)  # the kubelet's emptyDir mode: any container user may write
                self.paths[volume["name"]] = path
            elif "persistentVolumeClaim" in volume:
                self.paths[volume["name"]] = volume_path(self.claims[volume["persistentVolumeClaim"]["claimName"]])
            else:
                raise AssertionError(f"volume {volume['name']}: only emptyDir and claims are emulated")
        for claim, host_volume in self.claims.items():  # a StatefulSet's volumeClaimTemplates
            self.paths.setdefault(claim, volume_path(host_volume))

    def _start_pause(self) -> None:
        self.pause = unique(f"dfs-pod-{self.name}-pause")
        aliases = self.spec.get("hostAliases", [])
        hosts = [f"--add-host={name}:{alias['ip']}" for alias in aliases for name in alias["hostnames"]]
        pause_image = self.images["pause"]
        docker("run", "-d", "--name", self.pause, "--hostname", self.name, "--ipc", "shareable", *hosts,
               "--entrypoint", "sleep", pause_image, "86400")  # fmt: skip

    def environment(self, item: dict[str, Any]) -> dict[str, str]:
        env: dict[str, str] = {}
        for entry in item.get("env", []):
            if "value" in entry:
                env[entry["name"]] = expand(str(entry["value"]), env)
            else:
                path = entry["valueFrom"]["fieldRef"]["fieldPath"]
                env[entry["name"]] = {"metadata.name": self.name, "metadata.namespace": self.namespace}[path]
        return env

    def _run(self, item: dict[str, Any], *, detach: bool) -> None:
        name = unique(f"dfs-pod-{self.name}-{item['name']}")
        self.containers[item["name"]] = name
        env = self.environment(item)
        options = ["--name", name, f"--network=container:{self.pause}", "--ipc", f"container:{self.pause}"]
        for key, value in env.items():
            options += ["-e", f"{key}={value}"]
        security = item.get("securityContext", {})
        if security.get("privileged"):
            options += privileged_flags()
        if "runAsUser" in security:
            options += ["--user", f"{security['runAsUser']}:{security.get('runAsGroup', 0)}"]
        limits = item.get("resources", {}).get("limits", {})
        if "memory" in limits:
            options += ["--memory", memory_flag(limits["memory"])]
        if "cpu" in limits:
            options += ["--cpus", cpu_flag(limits["cpu"])]
        for mount in item.get("volumeMounts", []):
            source = self.paths[mount["name"]]
            if "subPath" in mount:
                source = os.path.join(source, mount["subPath"])
                os.makedirs(source, exist_ok=True)
            options += ["--mount", f"type=bind,src={source},dst={mount['mountPath']}"]
        command = [expand(word, env) for word in item.get("command", [])]
        arguments = [expand(word, env) for word in item.get("args", [])]
        if command:
            options += ["--entrypoint", command[0]]
            arguments = [*command[1:], *arguments]
        image = self.images[item["image"]]
        if detach:
            docker("run", "-d", *options, image, *arguments)
            return
        docker("run", *options, image, *arguments, timeout=300)
        self.exit_codes[item["name"]] = int(docker("inspect", "-f", "{{.State.ExitCode}}", name).stdout)

    # --- probes and exec -----------------------------------------------------------------

    def exec(self, container: str, *argv: str, check: bool = True, input: bytes | None = None,
             timeout: float = 300) -> subprocess.CompletedProcess[str]:  # fmt: skip
        """`kubectl exec`: run a command in one of the pod's containers, as its user."""
        options = ["-i"] if input is not None else []
        return docker("exec", *options, self.containers[container], *argv, check=check, input=input, timeout=timeout)

    def probe(self, item: dict[str, Any], kind: str) -> None:
        """Run an exec probe until it passes, as the kubelet does; fail past its threshold."""
        probe = item.get(kind)
        if probe is None:
            return
        period = probe.get("periodSeconds", 10)
        timeout = probe.get("timeoutSeconds", 1)
        threshold = probe.get("failureThreshold", 3)
        time.sleep(probe.get("initialDelaySeconds", 0))
        started = time.monotonic()
        output = ""
        for attempt in range(1, threshold + 1):
            try:
                result = self.exec(item["name"], *probe["exec"]["command"], check=False, timeout=timeout + 30)
                output = result.stdout + result.stderr
                if result.returncode == 0:
                    seconds = time.monotonic() - started
                    self.probes[f"{item['name']}/{kind}"] = ProbeResult(True, attempt, seconds, output)
                    return
            except subprocess.TimeoutExpired:
                output = "timed out"
            if attempt < threshold:
                time.sleep(period)
        self.probes[f"{item['name']}/{kind}"] = ProbeResult(False, threshold, time.monotonic() - started, output)
        logs = docker("logs", self.containers[item["name"]], check=False)
        raise AssertionError(f"{item['name']}: {kind} failed {threshold} times: {output[-2000:]}\n"
                             f"log:\n{(logs.stdout + logs.stderr)[-3000:]}")  # fmt: skip

    # --- stop ----------------------------------------------------------------------------

    def stop(self) -> None:
        """Delete the pod: main containers, then sidecars in reverse; preStop, then SIGTERM."""
        grace = self.spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE)
        sidecars = [i for i in self.spec.get("initContainers", []) if i.get("restartPolicy") == "Always"]
        for item in [*self.spec["containers"], *reversed(sidecars)]:
            name = self.containers.get(item["name"])
            if name is None:
                continue
            started = time.monotonic()
            hook = item.get("lifecycle", {}).get("preStop", {}).get("exec")
            if hook is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):  # the kubelet goes on to SIGTERM
                    self.pre_stop[item["name"]] = self.exec(item["name"], *hook["command"], check=False, timeout=grace)
            left = max(1, int(grace - (time.monotonic() - started)))
            docker("stop", "-t", str(left), name, check=False, timeout=left + 60)
            self.exit_codes[item["name"]] = int(docker("inspect", "-f", "{{.State.ExitCode}}", name).stdout)

    def remove(self) -> None:
        for name in [*self.containers.values(), self.pause]:
            if name:
                docker("rm", "-f", "-v", name, check=False)
        for volume in self.volumes:
            docker("volume", "rm", "-f", volume, check=False)


@contextmanager
def running_pod(
    spec: dict[str, Any],
    images: Mapping[str, str],
    *,
    name: str | None = None,
    claims: Mapping[str, str] | None = None,
    wait_ready: bool = True,
) -> Iterator[Pod]:
    """Start an emulated pod; stop it (unless the test did) and remove what it made."""
    pod = Pod(name or unique("pod"), spec, images, claims or {})
    try:
        pod.start(wait_ready=wait_ready)
        yield pod
    finally:
        try:
            if not pod.exit_codes.keys() >= {item["name"] for item in spec["containers"]}:
                pod.stop()
        finally:
            pod.remove()


# --- many pods at once (the ten-pod test and bench/fig_pods.py) ----------------------------

# Small per-pod resources for ten engines on one 2-core machine.
SMALL_RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "384Mi"}}
_SIZE_UNITS = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "kB": 10**3, "MB": 10**6, "GB": 10**9}


def with_resources(spec: dict[str, Any], name: str, resources: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``spec`` whose container ``name`` has ``resources``."""
    import copy

    changed = copy.deepcopy(spec)
    for item in [*changed.get("initContainers", []), *changed["containers"]]:
        if item["name"] == name:
            item["resources"] = copy.deepcopy(resources)
    return changed


def memory_usage(container: str) -> int:
    """Bytes the container's cgroup uses now (what its memory limit counts), from docker stats."""
    usage = docker("stats", "--no-stream", "--format", "{{.MemUsage}}", container).stdout.split("/")[0].strip()
    number = re.fullmatch(r"([0-9.]+)\s*([A-Za-z]+)", usage)
    if number is None:
        raise AssertionError(f"docker stats gave {usage!r} for {container}")
    return int(float(number.group(1)) * _SIZE_UNITS[number.group(2)])


@dataclass
class PodRun:
    """One standalone pod brought up: seconds to ready, the nested container's answer, memory."""

    pod: Pod
    ready_seconds: float
    answer: str
    memory_bytes: int


def start_and_run_nested(pod: Pod, busybox: str, busybox_tar: str) -> PodRun:
    """Start a standalone pod until ready, load busybox, run one nested container in it."""
    started = time.monotonic()
    pod.start()
    ready = time.monotonic() - started
    with open(busybox_tar, "rb") as handle:
        pod.exec("dind", "docker", "load", input=handle.read())
    answer = pod.exec("dind", "docker", "run", "--rm", busybox, "echo", pod.name).stdout.strip()
    return PodRun(pod, ready, answer, memory_usage(pod.containers["dind"]))


def run_many(pods: list[Pod], busybox: str, busybox_tar: str) -> list[PodRun]:
    """Bring ``pods`` up all at once, as a kubelet starts a StatefulSet's pods in parallel."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(len(pods)) as pool:
        return list(pool.map(lambda pod: start_and_run_nested(pod, busybox, busybox_tar), pods))


def delete_many(pods: list[Pod]) -> None:
    """Stop and remove ``pods`` all at once; what each made is removed even when a stop fails."""
    import concurrent.futures

    def delete(pod: Pod) -> None:
        try:
            pod.stop()
        finally:
            pod.remove()

    with concurrent.futures.ThreadPoolExecutor(max(1, len(pods))) as pool:
        list(pool.map(delete, pods))
