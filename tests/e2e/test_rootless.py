"""The rootless variant as docker:dind-rootless users run it: one service, a job over TLS.

One rootless DinD container serves the module (dockerd as uid 1000 under rootlesskit,
slirp4netns, native overlay2): it sits on a user network with the alias ``docker`` and a
certificates volume, like a CI service. The refusals start the image once each with one
piece taken away and expect the launcher's one line, within a second.
"""

import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from docker_from_scratch.host import privileged_flags
from tests.testing.engine import Dind, dind, docker, unique
from tests.testing.reliability import ran_s
from tests.testing.rootless import DATA_ROOT, HOME, SUBID_COUNT, SUBID_START, UID, make_tun_node, tun_flags

pytestmark = pytest.mark.e2e

NESTED_BUSYBOX = "dfs-test-busybox:latest"
ROOTLESS_UID = UID
SUBORDINATE_START = SUBID_START  # the image's /etc/subuid: rootless:100000:65536
TLS_JOB = {"DOCKER_HOST": "tcp://docker:2376", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/certs/client"}


@pytest.fixture(scope="module")
def tun_node(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tun_node(tmp_path_factory.mktemp("tun"))


@pytest.fixture(scope="module")
def service(rootless_image: str, tun_node: Path, busybox_tar: Path) -> Iterator[tuple[Dind, str, str]]:
    """The rootless service on its own network (alias docker) with a /certs volume, busybox
    loaded; yields (container, network, certs volume)."""
    with ExitStack() as cleanup:
        network = unique("dfs-test-rootless")
        docker("network", "create", network)  # docker picks the subnet
        cleanup.callback(docker, "network", "rm", network, check=False)
        certs = unique("dfs-test-certs")
        docker("volume", "create", certs)
        cleanup.callback(docker, "volume", "rm", "-f", certs, check=False)
        options = ["--network", network, "--network-alias", "docker", "-v", f"{certs}:/certs", *tun_flags(tun_node)]
        daemon = cleanup.enter_context(dind(rootless_image, run_options=options, data_root=DATA_ROOT))
        daemon.load_image(busybox_tar)
        yield daemon, network, certs


@pytest.fixture
def daemon(service: tuple[Dind, str, str]) -> Dind:
    return service[0]


def host_pid(container: str) -> int:
    return int(docker("inspect", "-f", "{{.State.Pid}}", container).stdout)


def host_pid_of(cmdline: bytes) -> int:
    """The host pid of the one process whose command line is ``cmdline`` (NUL-separated)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/cmdline").read_bytes() == cmdline:
                    found.append(int(entry))
            except OSError:
                continue
    assert len(found) == 1, f"expected one process {cmdline!r}, found {found}"
    return found[0]


def test_rootless_docker_info_lists_rootless(daemon: Dind) -> None:
    """`docker info` in the rootless container should list rootless among its security options."""
    result = daemon.exec("docker", "info", "--format", "{{json .SecurityOptions}} {{.Driver}}")
    assert "name=rootless" in result.stdout, result.stdout
    assert result.stdout.split()[-1] == "overlay2"  # native overlayfs in the user namespace


def test_rootless_daemon_runs_as_the_rootless_user(daemon: Dind) -> None:
    """dockerd should run as uid 1000 as seen from the host, never as root."""
    container_ns = os.readlink(f"/proc/{host_pid(daemon.name)}/ns/pid")
    uids = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{entry}/ns/pid") != container_ns:
                continue
            if not Path(f"/proc/{entry}/cmdline").read_bytes().startswith(b"/usr/bin/dockerd\0"):
                continue
            status = Path(f"/proc/{entry}/status").read_text().splitlines()
        except OSError:
            continue
        uids.append(next(line for line in status if line.startswith("Uid:")).split()[1:])
    assert uids == [[str(ROOTLESS_UID)] * 4]


def test_rootless_nested_container_runs(daemon: Dind) -> None:
    """A nested `docker run` should run and print its output."""
    result = daemon.exec("docker", "run", "--rm", NESTED_BUSYBOX, "echo", "hello rootless")
    assert result.stdout.strip() == "hello rootless"


def test_rootless_docker_build_builds_an_image(daemon: Dind) -> None:
    """`docker build` rootless should build an image whose RUN step ran."""
    dockerfile = f"FROM {NESTED_BUSYBOX}\nRUN echo built-rootless > /built\n".encode()
    daemon.exec("docker", "build", "-q", "-t", "dfs-rootless-built", "-", input=dockerfile)
    result = daemon.exec("docker", "run", "--rm", "dfs-rootless-built", "cat", "/built")
    assert result.stdout.strip() == "built-rootless"


def test_rootless_published_port_answers_in_the_dind_container(daemon: Dind) -> None:
    """A nested -p 8080:80 should answer on 127.0.0.1:8080 of the DinD container (rootlesskit's port driver)."""
    name = unique("web")
    daemon.exec(
        "docker", "run", "-d", "--name", name, "-p", "8080:80", NESTED_BUSYBOX,
        "sh", "-c", "echo hello-port > /tmp/index.html; exec httpd -f -h /tmp -p 80",
    )  # fmt: skip
    try:
        # The client runs in the DinD container's own network namespace (the image's Python).
        # rootlesskit's builtin driver accepts at once and closes when httpd is not up yet:
        # retry until a whole answer comes back.
        script = (
            "import socket, time\n"
            "for _ in range(100):\n"
            "    data = b''\n"
            "    try:\n"
            "        with socket.create_connection(('127.0.0.1', 8080), timeout=5) as s:\n"
            "            s.sendall(b'GET /index.html HTTP/1.0\\r\\n\\r\\n')\n"
            "            while chunk := s.recv(4096):\n"
            "                data += chunk\n"
            "    except OSError:\n"
            "        pass\n"
            "    if b'\\r\\n\\r\\n' in data:\n"
            "        print(data.decode().split('\\r\\n\\r\\n', 1)[1].strip())\n"
            "        break\n"
            "    time.sleep(0.1)\n"
        )
        assert daemon.exec("python3", "-IS", "-c", script).stdout.strip() == "hello-port"
    finally:
        daemon.exec("docker", "rm", "-f", name, check=False)


def test_rootless_nested_uids_map_to_the_user_and_its_subordinate_ids(daemon: Dind) -> None:
    """A nested container's uid 0 should be uid 1000 on the host and uid 1 the first subordinate id."""
    marker = "7715014"  # a sleep no other process on the host runs
    name = unique("sleeper")
    daemon.exec("docker", "run", "-d", "--name", name, NESTED_BUSYBOX, "sleep", marker)
    try:
        pid = host_pid_of(f"sleep\0{marker}\0".encode())
        mapping = [line.split() for line in Path(f"/proc/{pid}/uid_map").read_text().splitlines()]
        assert mapping[0] == ["0", str(ROOTLESS_UID), "1"]
        assert mapping[1] == ["1", str(SUBORDINATE_START), str(SUBID_COUNT)]
    finally:
        daemon.exec("docker", "rm", "-f", name, check=False)


def test_rootless_nested_volume_files_are_owned_by_mapped_ids(daemon: Dind) -> None:
    """Files a nested container writes to a volume should be owned by 1000 (its root) and
    by a subordinate id (its uid 1000) in the DinD container's view."""
    volume = unique("vol")
    script = "touch /data/by-root; touch /data/by-user; chown 1000:1000 /data/by-user"
    daemon.exec("docker", "run", "--rm", "-v", f"{volume}:/data", NESTED_BUSYBOX, "sh", "-c", script)
    try:
        data = Path(f"/proc/{host_pid(daemon.name)}/root{DATA_ROOT}/volumes/{volume}/_data")
        assert (data / "by-root").stat().st_uid == ROOTLESS_UID
        assert (data / "by-user").stat().st_uid == SUBORDINATE_START + 1000 - 1
    finally:
        daemon.exec("docker", "volume", "rm", volume, check=False)


def test_rootless_tls_job_gets_docker_info(rootless_image: str, service: tuple[Dind, str, str]) -> None:
    """A job container with DOCKER_HOST=tcp://docker:2376 and the client certs should reach the rootless daemon."""
    _, network, certs = service
    options = [arg for key, value in TLS_JOB.items() for arg in ("-e", f"{key}={value}")]
    name = unique("dfs-test-job")
    try:
        result = docker(
            "run", "--rm", "--name", name, "--network", network, "-v", f"{certs}:/certs:ro", *options,
            "--entrypoint", "docker", rootless_image, "info", "--format", "{{json .SecurityOptions}}",
            timeout=180,
        )  # fmt: skip
    finally:
        docker("rm", "-f", name, check=False)
    assert "name=rootless" in result.stdout


def test_rootless_tls_keys_belong_to_the_rootless_user(service: tuple[Dind, str, str]) -> None:
    """The TLS keys under /certs should be owned by uid 1000; the CA's and server's readable by it alone."""
    root = Path(f"/proc/{host_pid(service[0].name)}/root/certs")
    owners = {side: (root / side / "key.pem").stat().st_uid for side in ("ca", "server", "client")}
    assert owners == {"ca": ROOTLESS_UID, "server": ROOTLESS_UID, "client": ROOTLESS_UID}
    for side in ("ca", "server"):
        assert (root / side / "key.pem").stat().st_mode & 0o777 == 0o600, side


def test_rootless_health_check_answers(daemon: Dind) -> None:
    """`dockerlaunch --health` should find the rootless socket ($XDG_RUNTIME_DIR/docker.sock)."""
    assert daemon.exec("/usr/bin/dockerlaunch", "--health", check=False).returncode == 0


# --- refusals: one piece taken away each -----------------------------------------------------


@pytest.fixture(scope="module")
def empty_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("empty") / "empty"
    path.write_text("")
    return path


REFUSALS = {
    # name: (flags beyond the base set, words the error line must hold)
    "no-subordinate-ids": (("-v", "{empty}:/etc/subuid:ro"), ("subordinate ids", "/etc/subuid", "hint: add a line")),
    "home-not-writable": (("-e", "HOME=/usr"), ("HOME /usr is not writable by uid 1000", "hint: mount a directory")),
    "runtime-dir-not-writable": (
        ("-e", "XDG_RUNTIME_DIR=/usr", "-e", "DOCKER_HOST=unix:///usr/docker.sock"),
        ("XDG_RUNTIME_DIR /usr is not writable", "hint: mount"),
    ),
    "no-tun": (("--no-tun",), ("/dev/net/tun", "hint: run the container with --privileged, or with --device")),
    "no-new-privileges": (
        ("--security-opt", "no-new-privileges"),
        ("uid map tools", "no-new-privileges", "hint: install uidmap"),
    ),
    "seccomp-blocks-unshare": (
        ("--default-confinement",),
        ("unshare(CLONE_NEWUSER) fails with EPERM", "seccomp=unconfined --security-opt apparmor=unconfined"),
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_rootless_refusal_is_one_line_within_a_second(
    case: str, rootless_image: str, tun_node: Path, empty_file: Path
) -> None:
    """A rootless start missing one piece should exit 1 with one error line naming the fix, in under 1 s."""
    extra, words = REFUSALS[case]
    flags = [*privileged_flags(), *tun_flags(tun_node)]
    options = [word.format(empty=empty_file) for word in extra]
    if "--no-tun" in options:
        options.remove("--no-tun")
        flags = list(privileged_flags())
    if "--default-confinement" in options:
        # Docker's defaults: its seccomp profile refuses unshare(CLONE_NEWUSER) without CAP_SYS_ADMIN.
        options.remove("--default-confinement")
        flags = list(tun_flags(tun_node))
    name = unique("dfs-test-refusal")
    try:
        result = docker("run", "--name", name, *flags, *options, rootless_image, check=False, timeout=120)
        seconds = ran_s(name)
    finally:
        docker("rm", "-f", "-v", name, check=False)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, result.stderr
    errors = [line for line in lines if line.startswith("dockerlaunch: error: ")]
    assert len(errors) == 1 and errors == lines[-1:], result.stderr
    for word in words:
        assert word in errors[0], errors[0]
    assert seconds < 1.0, f"refused after {seconds:.2f} s"


# The launcher's input checks, on the files rootless dockerd reads: usage errors (exit 2).
INPUT_REFUSALS = {
    "broken-daemon-json": (
        ("-v", f"{{broken}}:{HOME}/.config/docker/daemon.json:ro"),
        (f"daemon config {HOME}/.config/docker/daemon.json is not valid JSON", "hint: fix the JSON"),
    ),
    "bad-tls-san": (("-e", "DOCKER_TLS_SAN=nonsense:x"), ("DOCKER_TLS_SAN entry 'nonsense:x'", "hint: write entries")),
    "bad-module-setting": (
        ("-e", "DOCKER_LAUNCH_MODULES=sometimes"),
        ("DOCKER_LAUNCH_MODULES 'sometimes' is not a module setting", "hint: use auto, modprobe or off"),
    ),
}


@pytest.mark.parametrize("case", sorted(INPUT_REFUSALS))
def test_rootless_bad_input_is_a_usage_error(case: str, rootless_image: str, tun_node: Path, tmp_path: Path) -> None:
    """A bad daemon.json, DOCKER_TLS_SAN or DOCKER_LAUNCH_MODULES should stop a rootless start in one line, exit 2."""
    broken = tmp_path / "daemon.json"
    broken.write_text("{not json")
    broken.chmod(0o644)
    extra, words = INPUT_REFUSALS[case]
    name = unique("dfs-test-input")
    flags = [*privileged_flags(), *tun_flags(tun_node), *(word.format(broken=broken) for word in extra)]
    try:
        result = docker("run", "--name", name, *flags, rootless_image, check=False, timeout=120)
        seconds = ran_s(name)
    finally:
        docker("rm", "-f", "-v", name, check=False)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("dockerlaunch: error: ")]
    assert result.returncode == 2 and len(errors) == 1 and errors == lines[-1:], result.stderr
    for word in words:
        assert word in errors[0], errors[0]
    assert "rootlesskit" not in result.stderr, result.stderr  # refused before rootlesskit started
    assert seconds < 1.0, f"refused after {seconds:.2f} s"


def test_rootful_image_as_a_user_names_the_rootless_image(image: str) -> None:
    """The rootful image started as uid 1000 should refuse in one line, naming the rootless image."""
    name = unique("dfs-test-refusal")
    try:
        result = docker("run", "--name", name, "--user", "1000", *privileged_flags(), image, check=False, timeout=120)
    finally:
        docker("rm", "-f", "-v", name, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "dockerlaunch: error: rootlesskit is required to run dockerd in a user namespace as an unprivileged user "
        "(rootless mode): no rootlesskit on PATH (hint: use the rootless image (docker-from-scratch build --rootless))"
    )
