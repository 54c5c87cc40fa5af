"""Bad input: every malformed invocation exits non-zero with ONE line naming the fix, and
mounts nothing.

Each case runs the venv's real ``dockerlaunch`` (or ``docker-from-scratch``) in a private
mount, network and PID namespace (tests/testing/reliability.py), with the place-holder
dockerd where a daemon binary is needed, and compares /proc/self/mountinfo before and
after. A launcher that wrongly got past its checks would run the place-holder; the
harness stops it and the case fails.
"""

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.testing.reliability import (
    DOCKERLAUNCH,
    HOST_CLI,
    PLACEHOLDER,
    REPO,
    Outcome,
    launch_in_namespace,
    launcher_env,
)

pytestmark = pytest.mark.integration

P = os.fspath(PLACEHOLDER)
# PATH with the host's engine (dockerd, runc in /usr/sbin): for cases that must get as far
# as the pre-flight probes, which look for the engine on PATH first.
ENGINE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NOT_ROOT = "setpriv --reuid=65534 --regid=65534 --clear-groups --"
NO_SYS_ADMIN = "setpriv --bounding-set=-sys_admin --inh-caps=-sys_admin --"
NO_DAC = "setpriv --bounding-set=-dac_override,-dac_read_search --inh-caps=-dac_override,-dac_read_search --"


@dataclass(frozen=True)
class Case:
    """One malformed invocation: launcher arguments, environment, setup, expected words."""

    id: str
    argv: tuple[str, ...]
    words: tuple[str, ...]  # each must appear in the error line (the fix, the culprit)
    env: tuple[tuple[str, str], ...] = ()
    setup: str = ""  # shell, inside the namespace, before the "before" mount table
    wrapper: str = ""  # e.g. setpriv ... -- (runs the launcher with fewer privileges)
    status: int | None = None  # exact exit status when the contract fixes it (2: usage)


def case(id: str, *argv: str, words: tuple[str, ...], status: int | None = None, env: dict[str, str] | None = None,
         setup: str = "", wrapper: str = "") -> Case:  # fmt: skip
    return Case(id, tuple(argv), words, tuple((env or {}).items()), setup, wrapper, status)


LAUNCHER_CASES = [
    # --- DOCKER_BINARY and the launcher's own options -----------------------------------
    case("no-arguments", words=("DOCKER_BINARY", "usage"), status=2),
    case("only-launcher-options", "--debug", "--reap", words=("DOCKER_BINARY",), status=2),
    case("binary-missing", "no-such-dockerd", words=("no-such-dockerd", "path of dockerd"), status=2),
    case("binary-missing-path", "/nonexistent/dfs-dockerd", words=("dfs-dockerd", "path of dockerd"), status=2),
    case("binary-not-executable", "{tmp}/dfs-noexec", words=("dfs-noexec", "path of dockerd"), status=2,
         setup="printf '#!/bin/sh\\n' > {tmp}/dfs-noexec; chmod 644 {tmp}/dfs-noexec"),
    case("binary-is-directory", "{tmp}/dfs-dir", words=("dfs-dir", "path of dockerd"), status=2,
         setup="mkdir {tmp}/dfs-dir"),
    case("binary-dangling-link", "{tmp}/dfs-link", words=("dfs-link", "path of dockerd"), status=2,
         setup="ln -s /nonexistent {tmp}/dfs-link"),
    case("binary-is-client-without-daemon", "{tmp}/bin/docker", "daemon", words=("dockerd",), status=2,
         setup="mkdir {tmp}/bin; cp /bin/true {tmp}/bin/docker"),
    case("unknown-launcher-option", "--bogus", P, words=("--bogus",), status=2),
    case("log-file-without-value", "--log-file", words=("--log-file", "usage"), status=2),
    case("log-file-is-directory", "--log-file", "{tmp}", P, words=("log file", "{tmp}"),
         env={"PATH": ENGINE_PATH}),
    case("log-file-below-a-file", "--log-file", "{tmp}/plain/dockerd.log", P, words=("log file", "not a directory"),
         status=2, env={"PATH": ENGINE_PATH}, setup="touch {tmp}/plain"),
    case("nofile-not-a-number", "--nofile", "many", P, words=("--nofile", ">= 1024"), status=2),
    case("nofile-too-small", "--nofile=10", P, words=("--nofile", ">= 1024"), status=2),
    case("nofile-env-not-a-number", P, words=("DOCKER_LAUNCH_NOFILE", ">= 1024"), status=2,
         env={"DOCKER_LAUNCH_NOFILE": "lots"}),
    case("mtu-env-not-a-setting", P, words=("DOCKER_LAUNCH_MTU", "auto, off"), status=2,
         env={"DOCKER_LAUNCH_MTU": "fast"}),
    case("modules-env-not-a-setting", P, words=("DOCKER_LAUNCH_MODULES", "auto, modprobe or off"), status=2,
         env={"DOCKER_LAUNCH_MODULES": "sometimes"}),
    case("mtu-switch-out-of-range", "--mtu", "40", P, words=("--mtu", "auto, off"), status=2),
    case("debug-env-not-boolean", P, words=("DOCKER_LAUNCH_DEBUG", "true or false"), status=2,
         env={"DOCKER_LAUNCH_DEBUG": "maybe"}),
    case("reap-env-not-boolean", P, words=("DOCKER_LAUNCH_REAP", "true or false"), status=2,
         env={"DOCKER_LAUNCH_REAP": "2"}),
    case("reap-option-not-boolean", "--reap=maybe", P, words=("--reap", "true or false"), status=2),
    case("debug-option-not-boolean", "--debug=sometimes", P, words=("--debug", "true or false"), status=2),
    case("stop-nested-not-a-number", "--stop-nested", "soon", words=("--stop-nested", "20"), status=2),
    case("stop-nested-two-values", "--stop-nested", "5", "10", words=("--stop-nested", "20"), status=2),
    # --- bridge, address, MTU -------------------------------------------------------------
    case("bip-bad-octet", P, "--bip", "300.1.1.1/24", words=("--bip", "192.0.2.1/24"), status=2),
    case("bip-without-prefix", P, "--bip", "192.0.2.1", words=("--bip", "192.0.2.1/24"), status=2),
    case("bip-network-address", P, "--bip", "192.0.2.0/24", words=("--bip", "192.0.2.1/24"), status=2),
    case("bip-prefix-too-long", P, "--bip", "192.0.2.1/31", words=("--bip", "192.0.2.1/24"), status=2),
    case("bip-ipv6", P, "--bip", "2001:db8::1/64", words=("--bip", "192.0.2.1/24"), status=2),
    case("bip-without-value", P, "--bip", words=("--bip", "192.0.2.1/24"), status=2),
    case("bip-value-is-an-option", P, "--bip", "--debug", words=("--bip",), status=2),
    case("bridge-without-value", P, "--bip", "192.0.2.1/24", "-b", words=("-b", "br0"), status=2),
    case("bridge-value-is-an-option", P, "--bridge", "--mtu", "1500", words=("--bridge", "br0"), status=2),
    case("bip-with-bridge-none", P, "--bip", "192.0.2.1/24", "-b", "none", words=("--bip", "-b"), status=2),
    case("mtu-not-a-number", P, "--mtu", "abc", words=("--mtu", "68 to 65535"), status=2),
    case("mtu-too-small", P, "--mtu", "67", words=("--mtu", "68 to 65535"), status=2),
    case("mtu-too-large", P, "--mtu=65536", words=("--mtu", "68 to 65535"), status=2),
    case("mtu-negative", P, "--mtu", "-1", words=("--mtu", "68 to 65535"), status=2),
    case("mtu-fraction", P, "--mtu", "1500.5", words=("--mtu", "68 to 65535"), status=2),
    case("mtu-without-value", P, "--mtu", words=("--mtu", "1500"), status=2),
    # --- storage, iptables, data root and config arguments --------------------------------
    case("storage-aufs", P, "-s", "aufs", words=("aufs", "overlay2"), status=2),
    case("storage-devicemapper", P, "--storage-driver", "devicemapper", words=("devicemapper", "overlay2"), status=2),
    case("storage-unknown", P, "-s", "ext4", words=("ext4", "overlay2"), status=2),
    case("storage-empty", P, "--storage-driver=", words=("storage driver", "overlay2"), status=2),
    case("storage-without-value", P, "-s", words=("-s", "overlay2"), status=2),
    case("iptables-not-boolean", P, "--iptables=maybe", words=("--iptables", "true or false"), status=2),
    case("data-root-without-value", P, "--data-root", words=("--data-root",), status=2),
    case("graph-without-value", P, "-g", words=("-g",), status=2),
    case("config-file-without-value", P, "--config-file", words=("--config-file",), status=2),
    case("config-file-is-directory", P, "--config-file", "{tmp}", words=("{tmp}", "JSON"),
         env={"PATH": ENGINE_PATH}),
    case("config-file-invalid-json", P, "--config-file", "{tmp}/daemon.json", words=("daemon.json", "JSON"),
         env={"PATH": ENGINE_PATH}, setup="printf '{{\"debug\": tru' > {tmp}/daemon.json"),
    case("config-file-not-an-object", P, "--config-file", "{tmp}/daemon.json", words=("daemon.json", "object"),
         env={"PATH": ENGINE_PATH}, setup="printf '[1, 2]' > {tmp}/daemon.json"),
    case("config-file-unreadable", P, "--config-file", "{tmp}/daemon.json", words=("daemon.json", "readable"),
         env={"PATH": ENGINE_PATH}, wrapper=NO_DAC,
         setup="printf '{{}}' > {tmp}/daemon.json; chmod 000 {tmp}/daemon.json"),
    # --- docker:dind's environment and command convention ----------------------------------
    case("tls-certdir-relative", P, words=("DOCKER_TLS_CERTDIR", "absolute"), status=2,
         env={"DOCKER_TLS_CERTDIR": "certs"}),
    case("tls-certdir-is-a-file", P, words=("DOCKER_TLS_CERTDIR", "not a directory"), status=2,
         env={"PATH": ENGINE_PATH, "DOCKER_TLS_CERTDIR": "{tmp}/certs"}, setup="touch {tmp}/certs"),
    case("tls-san-malformed", P, words=("DOCKER_TLS_SAN", "IP:300.1.1.1"), status=2,
         env={"PATH": ENGINE_PATH, "DOCKER_TLS_CERTDIR": "{tmp}/certs", "DOCKER_TLS_SAN": "IP:300.1.1.1"}),
    case("docker-host-without-path", P, words=("DOCKER_HOST", "unix:///var/run/docker.sock"), status=2,
         env={"DOCKER_HOST": "unix://"}),
    case("command-not-found", P, "no-such-program", "--flag", words=("no-such-program", "PATH")),
    case("command-not-executable", P, "{tmp}/dfs-script", words=("dfs-script", "executable"),
         setup="printf '#!/bin/sh\\n' > {tmp}/dfs-script; chmod 644 {tmp}/dfs-script"),
    # --- privileges and the data root's file system ------------------------------------------
    case("not-root", P, words=("root",), env={"PATH": ENGINE_PATH}, wrapper=NOT_ROOT),
    case("no-cap-sys-admin", P, words=("CAP_SYS_ADMIN", "--privileged"), env={"PATH": ENGINE_PATH},
         wrapper=NO_SYS_ADMIN),
    case("data-root-read-only", P, "--data-root", "{tmp}/ro", words=("{tmp}/ro", "read-only", "volume"),
         env={"PATH": ENGINE_PATH}, setup="mkdir {tmp}/ro; mount -t tmpfs -o ro,size=1m tmpfs {tmp}/ro"),
    case("data-root-below-read-only", P, "--data-root", "{tmp}/ro/docker", words=("read-only", "volume"),
         env={"PATH": ENGINE_PATH}, setup="mkdir {tmp}/ro; mount -t tmpfs -o ro,size=1m tmpfs {tmp}/ro"),
    case("data-root-is-a-file", P, "-g", "{tmp}/file", words=("{tmp}/file", "directory"),
         env={"PATH": ENGINE_PATH}, setup="touch {tmp}/file"),
    case("data-root-on-overlayfs-with-overlay2", P, "daemon", "-s", "overlay", "--data-root", "{tmp}/ovl/docker",
         words=("overlay", "volume"), env={"PATH": ENGINE_PATH},
         setup="mkdir -p {tmp}/lower {tmp}/upper {tmp}/work {tmp}/ovl; "
               "mount -t overlay overlay -o lowerdir={tmp}/lower,upperdir={tmp}/upper,workdir={tmp}/work {tmp}/ovl"),
    case("data-root-disk-full", P, "--data-root", "{tmp}/full", words=("{tmp}/full", "space"),
         env={"PATH": ENGINE_PATH},
         setup="mkdir {tmp}/full; mount -t tmpfs -o size=256k tmpfs {tmp}/full; "
               "dd if=/dev/zero of={tmp}/full/filler bs=4k 2>/dev/null || true"),
]  # fmt: skip

# The host command: argparse's errors, turned into one line each.
HOST_CASES = [
    case("host-no-verb", words=("VERB", "--help"), status=2),
    case("host-unknown-verb", "bulid", words=("bulid", "--help"), status=2),
    case("host-build-bad-arch", "build", "--arch", "sparc", words=("sparc", "--help"), status=2),
    case("host-build-bad-suite", "build", "--suite", "jessie", words=("jessie", "--help"), status=2),
    case("host-check-data-root-without-value", "check", "--data-root", words=("--data-root", "--help"), status=2),
    case("host-check-unknown-option", "check", "--bogus", words=("--bogus", "--help"), status=2),
    case("host-export-without-output", "export", words=("--output", "--help"), status=2),
    case("host-export-unwritable-output", "export", "-o", "/proc/dfs-no-such-dir/files.tar",
         words=("/proc/dfs-no-such-dir", "ENOENT", "permissions"), status=1),
    case("host-vm-memory-not-a-number", "vm", "--memory", "lots", words=("lots", "--help"), status=2),
    case("host-vm-bad-accel", "vm", "--accel", "qemu", words=("qemu", "--help"), status=2),
]  # fmt: skip


# The image's /usr/bin/docker-from-scratch calls this entry; run here from the venv.
IMAGE_CLI = (
    f"import sys; sys.path.insert(0, {os.fspath(REPO / 'src')!r}); "
    "from docker_from_scratch.doctor.cli import main; main()"
)
IMAGE_CLI_CASES = [
    case("image-no-verb", words=("VERB", "--help"), status=2),
    case("image-build-is-not-in-the-image", "build", words=("build", "--help"), status=2),
    case("image-check-unknown-option", "check", "--bogus", words=("--bogus", "--help"), status=2),
]


def _fill(text: str, tmp: Path) -> str:
    return text.replace("{tmp}", os.fspath(tmp)).replace("{{", "{").replace("}}", "}")


def run_case(program: Sequence[str], item: Case, tmp: Path) -> Outcome:
    argv = [*item.wrapper.split(), *program, *(_fill(a, tmp) for a in item.argv)]
    env = launcher_env(**{name: _fill(value, tmp) for name, value in item.env})
    return launch_in_namespace(argv, env=env, setup=_fill(item.setup, tmp))


def assert_one_line_refusal(outcome: Outcome, prefix: str, words: list[str], status: int | None) -> None:
    """Non-zero, exactly one error line carrying a hint and ``words``, nothing else but
    warnings, no daemon started, no mount left."""
    report = f"exit {outcome.returncode}\nstderr:\n{outcome.stderr}\nstdout:\n{outcome.stdout}"
    assert not outcome.timed_out, f"the launcher did not refuse: it ran the daemon\n{report}"
    assert outcome.returncode != 0, report
    if status is not None:
        assert outcome.returncode == status, report
    lines = outcome.stderr.strip().splitlines()
    errors = outcome.lines(f"{prefix}: error:")
    assert len(errors) == 1, report
    # Warnings (what is lost) may come first; nothing else: no traceback, no usage text.
    others = [line for line in lines if line not in errors and not line.startswith(f"{prefix}: warning:")]
    assert not others, report
    assert "(hint: " in errors[0], report
    for word in words:
        assert word in errors[0], f"{word!r} missing from the error line\n{report}"
    assert "ready" not in outcome.stdout, report
    assert outcome.new_mounts == [], f"mounts left behind: {outcome.new_mounts}\n{report}"


@pytest.mark.parametrize("item", LAUNCHER_CASES, ids=lambda c: c.id)
def test_bad_input_launcher_refuses_in_one_line(item: Case, tmp_path: Path) -> None:
    """dockerlaunch on malformed input should exit non-zero with one line naming the fix, mounting nothing."""
    outcome = run_case([os.fspath(DOCKERLAUNCH)], item, tmp_path)
    assert_one_line_refusal(outcome, "dockerlaunch", [_fill(w, tmp_path) for w in item.words], item.status)


@pytest.mark.parametrize("item", HOST_CASES, ids=lambda c: c.id)
def test_bad_input_host_command_refuses_in_one_line(item: Case, tmp_path: Path) -> None:
    """docker-from-scratch on malformed input should exit 2 with one line naming the fix."""
    outcome = run_case([os.fspath(HOST_CLI)], item, tmp_path)
    assert_one_line_refusal(outcome, "docker-from-scratch", list(item.words), item.status)


@pytest.mark.parametrize("item", IMAGE_CLI_CASES, ids=lambda c: c.id)
def test_bad_input_image_command_refuses_in_one_line(item: Case, tmp_path: Path) -> None:
    """The image's docker-from-scratch (doctor verbs) on malformed input should exit 2 with one line."""
    outcome = run_case([sys.executable, "-I", "-c", IMAGE_CLI], item, tmp_path)
    assert_one_line_refusal(outcome, "docker-from-scratch", list(item.words), item.status)


def test_bad_input_harness_sees_a_new_mount(tmp_path: Path) -> None:
    """The before/after comparison should report a mount the command under test made."""
    target = tmp_path / "mnt"
    target.mkdir()
    outcome = launch_in_namespace(["mount", "-t", "tmpfs", "dfs-harness", os.fspath(target)])
    assert outcome.returncode == 0, outcome.stderr
    assert any(os.fspath(target) in line for line in outcome.new_mounts), outcome.new_mounts
