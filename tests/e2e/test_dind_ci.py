"""Our image as a drop-in for docker:dind: the CI service pattern, TLS clients, restarts.

Reproduces what GitLab CI's `services: [docker:dind]` sets up, with the host engine: a
user-defined network, the daemon as a service with network alias ``docker`` and a
named volume on /certs, and a job container that reaches it as tcp://docker:2376 with
DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH=/certs/client. The job's docker CLI is our
own image's (``--entrypoint docker``): no registry pulls.

The image under test is $DFS_IMAGE (default docker-from-scratch:latest), already loaded
in the host engine; without it these tests skip.
"""

import os
import random
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import docker as docker_sdk
import pytest
import requests

from docker_from_scratch.launcher import tls
from docker_from_scratch.launcher.api import ping
from tests.testing.engine import Dind, dind, docker, unique

pytestmark = pytest.mark.e2e

NESTED_BUSYBOX = "dfs-test-busybox:latest"
# The network rule: test bridges live in documentation ranges. Other sessions may hold
# some of these /27s, so creation tries several.
SUBNETS = [f"{base}.{low}/27" for base in ("198.51.100", "203.0.113") for low in range(0, 256, 32)]


@pytest.fixture(scope="module")
def dind_image(image: str) -> str:
    """Our image, built from this tree and loaded once a session (tests/e2e/conftest.py)."""
    return image


@contextmanager
def user_network() -> Iterator[str]:
    """A user-defined bridge network in a documentation range, removed afterwards."""
    name = unique("dfs-test-ci")
    errors = []
    for subnet in random.sample(SUBNETS, len(SUBNETS)):
        result = docker("network", "create", "--subnet", subnet, name, check=False)
        if result.returncode == 0:
            break
        errors.append(result.stderr.strip())
    else:
        pytest.fail(f"no free test subnet for a network: {errors[-1]}")
    try:
        yield name
    finally:
        docker("network", "rm", name, check=False)


@pytest.fixture(scope="module")
def tls_network(dind_image: str) -> Iterator[str]:
    """The network of the module's shared TLS service (one service per network: each one
    answers to the alias docker, and two would split the name between them)."""
    with user_network() as name:
        yield name


@pytest.fixture
def network(dind_image: str) -> Iterator[str]:
    """A network of its own for a test that starts its own service."""
    with user_network() as name:
        yield name


def volume() -> str:
    name = unique("dfs-test-certs")
    docker("volume", "create", name)
    return name


def service_options(network: str, certs: str, *extra: str) -> list[str]:
    """`docker run` options of a CI service: the network alias docker and /certs volume."""
    return ["--network", network, "--network-alias", "docker", "-v", f"{certs}:/certs", *extra]


def job(
    image: str, network: str, certs: str, *argv: str, env: dict[str, str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    """A CI job container: our image's docker CLI with the job's DOCKER_* variables."""
    name = unique("dfs-test-job")
    options = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
    try:
        return docker(
            "run", "--rm", "--name", name, "--network", network, "-v", f"{certs}:/certs:ro",
            *options, "--entrypoint", "docker", image, *argv, check=check, timeout=180,
        )  # fmt: skip
    finally:
        docker("rm", "-f", "-v", name, check=False)


TLS_JOB = {"DOCKER_HOST": "tcp://docker:2376", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/certs/client"}


@pytest.fixture(scope="module")
def tls_service(dind_image: str, tls_network: str, busybox_tar: Path) -> Iterator[tuple[Dind, str]]:
    """The service with default arguments (TLS on 2376, also published on 127.0.0.1),
    busybox loaded into its daemon; yields the container and its certs volume."""
    with ExitStack() as cleanup:
        certs = volume()
        cleanup.callback(docker, "volume", "rm", "-f", certs, check=False)
        options = service_options(tls_network, certs, "-p", "127.0.0.1::2376")
        service = cleanup.enter_context(dind(dind_image, run_options=options))
        service.load_image(busybox_tar)
        yield service, certs


def copy_certs(service: Dind, side: str, target: Path) -> Path:
    """`docker cp` the service's /certs/SIDE out to the host."""
    docker("cp", f"{service.name}:/certs/{side}/.", os.fspath(target))
    return target


def test_ci_job_docker_info_over_tls(dind_image: str, tls_service: tuple[Dind, str], tls_network: str) -> None:
    """A job with DOCKER_HOST=tcp://docker:2376 and the client certs should get `docker info`."""
    service, certs = tls_service
    result = job(dind_image, tls_network, certs, "info", "--format", "{{.ServerVersion}} {{.Name}}", env=TLS_JOB)
    version, name = result.stdout.split()
    expected = docker("exec", service.name, "docker", "info", "--format", "{{.Name}}").stdout.strip()
    assert version and name == expected


def test_ci_job_docker_run_over_tls(dind_image: str, tls_service: tuple[Dind, str], tls_network: str) -> None:
    """The job's `docker run` should run a container in the service's daemon."""
    _, certs = tls_service
    argv = ("run", "--rm", NESTED_BUSYBOX, "echo", "hello from the job")
    assert job(dind_image, tls_network, certs, *argv, env=TLS_JOB).stdout.strip() == "hello from the job"


@pytest.mark.parametrize("env", [{}, {"DOCKER_TLS": "1"}], ids=["plain-http", "tls-without-cert"])
def test_ci_job_without_client_cert_is_refused(
    dind_image: str, tls_service: tuple[Dind, str], tls_network: str, env: dict[str, str]
) -> None:
    """Port 2376 should refuse plain HTTP and a TLS client that brings no certificate."""
    _, certs = tls_service
    job_env = {"DOCKER_HOST": "tcp://docker:2376", **env}
    result = job(dind_image, tls_network, certs, "version", "--format", "{{.Server.Version}}", env=job_env, check=False)
    assert result.returncode != 0, result.stdout


def test_service_port_published_on_loopback_only(tls_service: tuple[Dind, str]) -> None:
    """The published TLS port should be bound to the host's 127.0.0.1 alone."""
    service, _ = tls_service
    bindings = docker("port", service.name, "2376/tcp").stdout.split()
    assert bindings and all(binding.startswith("127.0.0.1:") for binding in bindings)


def test_service_health_probe_answers(tls_service: tuple[Dind, str]) -> None:
    """api.ping run by the image's own python should see the nested daemon answer."""
    service, _ = tls_service
    code = "from docker_from_scratch.launcher.api import ping; print(ping('/var/run/docker.sock'))"
    assert service.exec("python3", "-I", "-S", "-c", code).stdout.strip() == "True"


# The image's HEALTHCHECK as proposed to the builder, in Dockerfile form (exec form: the
# slim image has no sh). The builder also sets StartInterval=1s, which this host's engine
# (20.10, API 1.41) does not know.
PROPOSED_HEALTHCHECK = (
    "HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 "
    'CMD ["/usr/bin/python3", "-I", "-S", "-c", '
    '"import os, sys; from docker_from_scratch.launcher.api import health_status; '
    'sys.exit(health_status(os.environ))"]'
)


@pytest.fixture
def image_with_healthcheck(dind_image: str, tmp_path: Path) -> Iterator[str]:
    """The image itself once it has a HEALTHCHECK; until then a local child image that adds
    the proposed one (built offline from the loaded image, removed afterwards)."""
    configured = docker("image", "inspect", "-f", "{{json .Config.Healthcheck}}", dind_image).stdout.strip()
    if configured != "null":
        yield dind_image
        return
    tag = f"{unique('dfs-test-health')}:latest"
    (tmp_path / "Dockerfile").write_text(f"FROM {dind_image}\n{PROPOSED_HEALTHCHECK}\n")
    subprocess.run(
        ["docker", "build", "-q", "--network", "none", "-t", tag, os.fspath(tmp_path)],
        env={**os.environ, "DOCKER_BUILDKIT": "0"}, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    try:
        yield tag
    finally:
        docker("rmi", "-f", tag, check=False)


def test_healthcheck_turns_healthy(image_with_healthcheck: str) -> None:
    """The HEALTHCHECK should report healthy once the nested daemon answers."""
    with dind(image_with_healthcheck, wait=False) as container:
        deadline = time.monotonic() + 120
        status = ""
        while time.monotonic() < deadline:
            status = docker("inspect", "-f", "{{.State.Health.Status}}", container.name).stdout.strip()
            if status in ("healthy", "unhealthy"):
                break
            time.sleep(0.5)
        assert status == "healthy", docker("inspect", "-f", "{{json .State.Health}}", container.name).stdout


def test_host_engine_answers_ping(engine: None) -> None:
    """ping should see the host engine answer on its socket, and not a missing socket."""
    assert ping("/var/run/docker.sock", timeout=10)
    assert not ping("/var/run/no-such-docker.sock", timeout=1)


# --- the Python docker SDK on the host ------------------------------------------------------


@pytest.fixture(autouse=True)
def no_requests_bundle_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace the CA a session was given
    (psf/requests#3829); CI machines often set them, so the SDK tests clear them."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


def sdk_client(service: Dind, certs: Path, ca: Path | None = None) -> docker_sdk.DockerClient:
    """An SDK client for the service's published port with client certs from ``certs``.

    A fixed API version, so that the constructor sends nothing and each test sees the
    handshake's outcome on its own request.
    """
    port = docker("port", service.name, "2376/tcp").stdout.split()[0].rsplit(":", 1)[1]
    config = docker_sdk.tls.TLSConfig(
        client_cert=(os.fspath(certs / "cert.pem"), os.fspath(certs / "key.pem")),
        ca_cert=os.fspath(ca or certs / "ca.pem"),
        verify=True,
    )
    return docker_sdk.DockerClient(base_url=f"https://127.0.0.1:{port}", tls=config, version="1.41", timeout=30)


def test_sdk_talks_with_client_certs(tls_service: tuple[Dind, str], tmp_path: Path) -> None:
    """The docker SDK with the service's client certs should reach it on 127.0.0.1."""
    service, _ = tls_service
    client = sdk_client(service, copy_certs(service, "client", tmp_path))
    try:
        assert client.ping() is True
        images = [tag for image in client.images.list() for tag in image.tags]
        assert NESTED_BUSYBOX in images
    finally:
        client.close()


def test_sdk_refuses_server_of_another_ca(tls_service: tuple[Dind, str], tmp_path: Path) -> None:
    """An SDK client that trusts another CA should refuse the service's certificate."""
    service, _ = tls_service
    ours = copy_certs(service, "client", tmp_path / "ours")
    tls.ensure_certificates(os.fspath(tmp_path / "other"))
    client = sdk_client(service, ours, ca=tmp_path / "other/ca/cert.pem")
    try:
        with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
            client.ping()
    finally:
        client.close()


def test_service_refuses_client_of_another_ca(tls_service: tuple[Dind, str], tmp_path: Path) -> None:
    """The service should refuse a client certificate another CA signed."""
    service, _ = tls_service
    ours = copy_certs(service, "client", tmp_path / "ours")
    tls.ensure_certificates(os.fspath(tmp_path / "other"))
    stranger = tmp_path / "other/client"
    client = sdk_client(service, stranger, ca=ours / "ca.pem")
    try:
        with pytest.raises((requests.exceptions.SSLError, requests.exceptions.ConnectionError)):
            client.ping()
    finally:
        client.close()


# --- DOCKER_TLS_CERTDIR='' and restarts ---------------------------------------------------------


def test_ci_service_without_tls_on_2375(dind_image: str, network: str) -> None:
    """With DOCKER_TLS_CERTDIR='' a job should reach tcp://docker:2375 without certificates."""
    with ExitStack() as cleanup:
        certs = volume()
        cleanup.callback(docker, "volume", "rm", "-f", certs, check=False)
        options = service_options(network, certs, "-e", "DOCKER_TLS_CERTDIR=")
        service = cleanup.enter_context(dind(dind_image, run_options=options))
        env = {"DOCKER_HOST": "tcp://docker:2375"}
        result = job(dind_image, network, certs, "info", "--format", "{{.Name}}", env=env)
        assert result.stdout.strip() == service.exec("docker", "info", "--format", "{{.Name}}").stdout.strip()
        listing = "import os; print(os.listdir('/certs'))"  # the image has python3, not ls
        assert service.exec("python3", "-I", "-S", "-c", listing).stdout.strip() == "[]"


def test_restart_keeps_ca_and_reissues_leaves(dind_image: str, network: str, tmp_path: Path) -> None:
    """A new service on the same /certs volume should keep the CA, re-issue leaves, and serve."""
    with ExitStack() as cleanup:
        certs, data = volume(), unique("dfs-test-data")
        cleanup.callback(docker, "volume", "rm", "-f", certs, data, check=False)
        options = service_options(network, certs)
        with dind(dind_image, run_options=options, volume=data, keep_volume=True) as first:
            before = {side: copy_certs(first, side, tmp_path / f"before-{side}") for side in ("ca", "server", "client")}
        with dind(dind_image, run_options=options, volume=data, keep_volume=True) as second:
            after = {side: copy_certs(second, side, tmp_path / f"after-{side}") for side in ("ca", "server", "client")}
            job(dind_image, network, certs, "version", env=TLS_JOB)
    assert (after["ca"] / "cert.pem").read_bytes() == (before["ca"] / "cert.pem").read_bytes()
    assert (after["ca"] / "key.pem").read_bytes() == (before["ca"] / "key.pem").read_bytes()
    for side in ("server", "client"):
        assert (after[side] / "cert.pem").read_bytes() != (before[side] / "cert.pem").read_bytes()
        verify = subprocess.run(
            ["openssl", "verify", "-CAfile", os.fspath(before["ca"] / "cert.pem"), os.fspath(after[side] / "cert.pem")],
            capture_output=True, text=True, check=False, env={**os.environ, "SSL_CERT_FILE": "/dev/null"},
        )  # fmt: skip
        assert verify.returncode == 0, verify.stderr


def fill_volume(image: str, volume_name: str, source: Path) -> None:
    """Copy a host directory's contents into a named volume at /certs (via a stopped container)."""
    name = unique("dfs-test-fill")
    docker("create", "--name", name, "-v", f"{volume_name}:/certs", "--entrypoint", "true", image)
    try:
        docker("cp", f"{source}/.", f"{name}:/certs")
    finally:
        docker("rm", "-f", "-v", name, check=False)  # -v: the image's anonymous /var/lib/docker volume too


def user_managed_certs(directory: Path) -> Path:
    """server/ and client/ from a CA whose key the daemon never sees (ca/ removed)."""
    tls.ensure_certificates(os.fspath(directory), tls_san="DNS:docker")
    for name in ("key.pem", "cert.pem"):
        (directory / "ca" / name).unlink()
    (directory / "ca").rmdir()
    return directory


def test_user_managed_ca_is_only_verified(dind_image: str, network: str, tmp_path: Path) -> None:
    """With server/{ca,cert,key}.pem and no ca/key.pem the service should serve the user's
    certificate unchanged and make no CA."""
    certs_dir = user_managed_certs(tmp_path / "certs")
    with ExitStack() as cleanup:
        certs = volume()
        cleanup.callback(docker, "volume", "rm", "-f", certs, check=False)
        fill_volume(dind_image, certs, certs_dir)
        service = cleanup.enter_context(dind(dind_image, run_options=service_options(network, certs)))
        job(dind_image, network, certs, "version", env=TLS_JOB)
        served = copy_certs(service, "server", tmp_path / "served")
        listing = "import os; print(os.path.exists('/certs/ca'))"
        assert service.exec("python3", "-I", "-S", "-c", listing).stdout.strip() == "False"
    assert (served / "cert.pem").read_bytes() == (certs_dir / "server/cert.pem").read_bytes()


def test_user_managed_wrong_ca_stops_with_one_line(dind_image: str, tmp_path: Path) -> None:
    """A user server cert that does not verify against server/ca.pem should stop the start
    with one error line naming both files."""
    from tests.testing.engine import dind_flags

    certs_dir = user_managed_certs(tmp_path / "certs")
    tls.ensure_certificates(os.fspath(tmp_path / "other"))
    (certs_dir / "server/ca.pem").write_bytes((tmp_path / "other/ca/cert.pem").read_bytes())
    with ExitStack() as cleanup:
        certs, data = volume(), unique("dfs-test-data")
        cleanup.callback(docker, "volume", "rm", "-f", certs, data, check=False)
        fill_volume(dind_image, certs, certs_dir)
        name = unique("dfs-test-badca")
        cleanup.callback(docker, "rm", "-f", "-v", name, check=False)
        result = docker(
            "run", "--name", name, *dind_flags(), "-v", f"{certs}:/certs", "-v", f"{data}:/var/lib/docker",
            dind_image, check=False, timeout=120,
        )  # fmt: skip
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and "does not verify against /certs/server/ca.pem" in errors[0], result.stderr


# --- docker-entrypoint.sh: the job finds the daemon with no DOCKER_* variable ---------------------


def client_job(image: str, *run_options: str, argv: tuple[str, ...]) -> str:
    """A job container of our image through docker:dind's client entry point, as CI calls it
    (``--entrypoint docker-entrypoint.sh``), with no DOCKER_* variable of its own."""
    name = unique("dfs-test-job")
    try:
        return docker(
            "run", "--rm", "--name", name, *run_options, "--entrypoint", "docker-entrypoint.sh", image, *argv,
            timeout=180,
        ).stdout.strip()  # fmt: skip
    finally:
        docker("rm", "-f", "-v", name, check=False)


def test_client_entrypoint_reaches_the_tls_service_by_its_alias(
    dind_image: str, tls_service: tuple[Dind, str], tls_network: str
) -> None:
    """Only --network and the certs volume should give tcp://docker:2376 with TLS: the job talks to the service."""
    service, certs = tls_service
    name = client_job(
        dind_image, "--network", tls_network, "-v", f"{certs}:/certs:ro",
        argv=("docker", "info", "--format", "{{.Name}}"),
    )  # fmt: skip
    assert name == service.exec("docker", "info", "--format", "{{.Name}}").stdout.strip()


def test_client_entrypoint_reaches_a_plain_service_by_link(dind_image: str) -> None:
    """--link service:docker and no certificates should give tcp://docker:2375; `info` is docker's subcommand."""
    options = ["-e", "DOCKER_TLS_CERTDIR="]
    with dind(dind_image, run_options=options) as service:
        name = client_job(dind_image, "--link", f"{service.name}:docker", argv=("info", "--format", "{{.Name}}"))
        assert name == service.exec("docker", "info", "--format", "{{.Name}}").stdout.strip()


def test_client_entrypoint_prefers_a_mounted_socket(dind_image: str, engine: None) -> None:
    """A socket at /var/run/docker.sock should win over tcp://docker: the job reaches the host engine."""
    host = "/var/run/docker.sock"
    name = client_job(dind_image, "-v", f"{host}:{host}", argv=("docker", "info", "--format", "{{.Name}}"))
    assert name == docker("info", "--format", "{{.Name}}").stdout.strip()


def test_client_default_entrypoint_reaches_the_tls_service(
    dind_image: str, tls_service: tuple[Dind, str], tls_network: str
) -> None:
    """`IMAGE docker ...` through the image's own entrypoint should reach tcp://docker:2376 too, as docker:dind's."""
    service, certs = tls_service
    name = unique("dfs-test-job")
    try:
        found = docker(
            "run", "--rm", "--name", name, "--network", tls_network, "-v", f"{certs}:/certs:ro",
            dind_image, "docker", "info", "--format", "{{.Name}}", timeout=180,
        ).stdout.strip()  # fmt: skip
    finally:
        docker("rm", "-f", "-v", name, check=False)
    assert found == service.exec("docker", "info", "--format", "{{.Name}}").stdout.strip()
