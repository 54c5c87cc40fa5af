"""--plugins buildx,compose: `docker buildx build` and `docker compose` inside our DinD, no registry.

Both run where a CI job runs them: in the daemon container (`docker exec daemon ...`) and
in a separate job container that reaches the daemon as a CI service over TLS (through
docker-entrypoint.sh, no DOCKER_* variables). Every image comes from the locally loaded
busybox: buildx's default builder is the docker driver, the daemon's own BuildKit,
which resolves FROM against the daemon's image store first and pulls only what is
missing. A Dockerfile without a `# syntax=` line uses BuildKit's built-in frontend, so
nothing is fetched for it either. The project files come in through a bind mount.
"""

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.testing.engine import Dind, dind, docker, unique

BUSYBOX = "dfs-test-busybox:latest"
# The cache mount outlives the layer cache: a second build with another RUN_ID runs the
# step again and finds the first build's stamp. COPY --from takes the result to stage two.
DOCKERFILE = f"""\
FROM {BUSYBOX} AS build
ARG RUN_ID
RUN --mount=type=cache,target=/cache sh -c \\
    'if [ -f /cache/stamp ]; then echo "reused $(cat /cache/stamp)" > /result; \\
     else echo "fresh $RUN_ID" > /result; echo "$RUN_ID" > /cache/stamp; fi'
FROM {BUSYBOX}
COPY --from=build /result /result
CMD ["cat", "/result"]
"""
# Two services on the project network: the client reaches the server by its name and is
# healthy only after it got the answer, so `up --wait` proves the name resolved.
COMPOSE = f"""\
services:
  server:
    image: {BUSYBOX}
    command: ["sh", "-c", "while true; do echo pong | nc -l -p 8080; done"]
    volumes: ["data:/data"]
  client:
    image: {BUSYBOX}
    command:
      - sh
      - -c
      - until [ "$$(nc server 8080 </dev/null)" = pong ]; do sleep 0.2; done; echo ok > /ok; exec sleep 3600
    healthcheck:
      test: ["CMD", "cat", "/ok"]
      interval: 1s
      retries: 60
volumes:
  data: {{}}
"""

Docker = Callable[..., str]  # runs `docker ARGS` where the job runs, returns stdout


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The build context and the compose project, bind-mounted read-only at /work."""
    root = tmp_path_factory.mktemp("plugins")
    (root / "ctx").mkdir()
    (root / "ctx" / "Dockerfile").write_text(DOCKERFILE)
    (root / "compose.yaml").write_text(COMPOSE)
    return root


@pytest.fixture(scope="module")
def service(plugin_image: str, project: Path, busybox_tar: Path) -> Iterator[tuple[Dind, str, str]]:
    """The plugin image as a CI service (alias docker, certs volume) on its own network,
    busybox loaded; yields the container, its network and its certs volume."""
    with ExitStack() as cleanup:
        network, certs = unique("dfs-test-plugins"), unique("dfs-test-certs")
        docker("network", "create", network)
        cleanup.callback(docker, "network", "rm", network, check=False)
        docker("volume", "create", certs)
        cleanup.callback(docker, "volume", "rm", "-f", certs, check=False)
        options = ["--network", network, "--network-alias", "docker", "-v", f"{certs}:/certs",
                   "-v", f"{project}:/work:ro"]  # fmt: skip
        container = cleanup.enter_context(dind(plugin_image, run_options=options))
        container.load_image(busybox_tar)
        yield container, network, certs


def in_daemon(service: tuple[Dind, str, str]) -> Docker:
    container = service[0]
    return lambda *argv: container.exec("docker", *argv, timeout=600).stdout


def in_job(service: tuple[Dind, str, str], plugin_image: str, project: Path) -> Docker:
    _, network, certs = service

    def run(*argv: str) -> str:
        name = unique("dfs-test-job")
        try:
            return docker(
                "run", "--rm", "--name", name, "--network", network, "-v", f"{certs}:/certs:ro",
                "-v", f"{project}:/work:ro", "--entrypoint", "docker-entrypoint.sh", plugin_image, "docker", *argv,
                timeout=600,
            ).stdout  # fmt: skip
        finally:
            docker("rm", "-f", "-v", name, check=False)

    return run


@pytest.fixture(params=["exec", "job"])
def client(request: pytest.FixtureRequest, service: tuple[Dind, str, str], plugin_image: str, project: Path) -> Docker:
    """The docker CLI of `docker exec daemon`, or of a job container over TLS."""
    return in_daemon(service) if request.param == "exec" else in_job(service, plugin_image, project)


def test_plugins_buildx_build_reuses_the_cache_mount(client: Docker, service: tuple[Dind, str, str]) -> None:
    """`docker buildx build` (RUN --mount=type=cache, COPY --from) should run twice, the second on the cache."""
    tag = unique("dfs-test-built")
    first, second = unique("one"), unique("two")
    daemon = in_daemon(service)
    daemon("builder", "prune", "--all", "--force")  # the other parameter's cache mount must not count
    try:
        for run_id in (first, second):
            client("buildx", "build", "--load", "--progress", "plain", "--build-arg", f"RUN_ID={run_id}",
                   "-t", f"{tag}:{run_id}", "/work/ctx")  # fmt: skip
        assert daemon("run", "--rm", f"{tag}:{first}").strip() == f"fresh {first}"
        assert daemon("run", "--rm", f"{tag}:{second}").strip() == f"reused {first}"
    finally:
        daemon("image", "rm", "-f", f"{tag}:{first}", f"{tag}:{second}")


def test_plugins_compose_up_wait_reaches_a_service_by_name(client: Docker, service: tuple[Dind, str, str]) -> None:
    """`docker compose up -d --wait` should start two services that talk by name; `down -v` removes everything."""
    name = unique("dfs-proj").replace("-", "")
    compose = ("compose", "-f", "/work/compose.yaml", "-p", name)
    daemon = in_daemon(service)
    try:
        client(*compose, "up", "-d", "--wait", "--wait-timeout", "120")
        states = daemon(
            "ps", "--filter", f"label=com.docker.compose.project={name}", "--format", "{{.Names}} {{.Status}}"
        )
        assert "(healthy)" in states and len(states.splitlines()) == 2, states
    finally:
        client(*compose, "down", "-v", "--timeout", "1")
    label = f"label=com.docker.compose.project={name}"
    assert daemon("ps", "-a", "--filter", label, "--format", "{{.Names}}").strip() == ""
    assert daemon("volume", "ls", "--filter", label, "--format", "{{.Name}}").strip() == ""
    assert daemon("network", "ls", "--filter", label, "--format", "{{.Name}}").strip() == ""


def test_plugins_are_where_docker_dind_ships_them(plugin_image: str) -> None:
    """The image should carry docker-buildx and docker-compose in /usr/libexec/docker/cli-plugins."""
    listing = "import os; print(sorted(os.listdir('/usr/libexec/docker/cli-plugins')))"
    result = docker("run", "--rm", "--entrypoint", "/usr/bin/python3", plugin_image, "-IS", "-c", listing)
    assert result.stdout.strip() == "['docker-buildx', 'docker-compose']"
