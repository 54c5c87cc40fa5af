"""The arm64 image as PID 1 of an arm64 VM (qemu-system-aarch64, TCG, -machine virt).

One boot serves every test here (TCG emulates each AArch64 instruction: minutes, not
seconds): `initramfs --arch arm64` with Debian's arm64 kernel, a busybox image made from
the suite's arm64 busybox-static and our arm64 image from `build --arch amd64,arm64`.
PID 1 brings dockerd up, runs a busybox container, then our image as a DinD container
(the seed's `docker exec daemon docker ps` and a nested run), and powers off.
"""

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from docker_from_scratch.builder import cmd_initramfs, cmd_vm, qemu
from docker_from_scratch.launcher.baremetal import READY_MESSAGE
from tests.testing.bare_kernel import write_busybox_archive
from tests.testing.engine import BUSYBOX_TAG
from tests.testing.multiarch import MULTI_TAG, MultiBuild

ARCH = "arm64"
BOOT_TIMEOUT_S = 1500  # the whole boot; measured about 5 min of wall time under load here
AFTER_INIT = r"\b(\d+\.\d+) s after the kernel ran /init"
# Run by PID 1 once dockerd answers, in order (no double quotes: they delimit the kernel's value).
COMMANDS = [
    f"docker run --rm {BUSYBOX_TAG} sh -c 'echo container-on-$(uname -m)'",
    # --no-healthcheck: under TCG the image's health probe (a Python start every second
    # while starting) took the CPU the nested dockerd needed to start containerd within its
    # fixed timeout ("timeout waiting for containerd to start", seen here under load).
    f"docker run -d --name daemon --privileged --no-healthcheck -v dind-data:/var/lib/docker {MULTI_TAG}",
    # No sleep in the image: each `docker exec` takes seconds under TCG. A daemon that
    # stopped ends the wait at once, with its log on the console.
    # (the image has sh but no grep, tail or sleep).
    "sh -c 'until docker exec daemon docker version >/dev/null 2>&1; do"
    " case $(docker inspect -f {{.State.Running}} daemon) in false) docker logs daemon; exit 1;; esac;"
    " done; echo nested-dockerd-ready'",
    "sh -c 'docker exec daemon docker ps && echo seed-docker-ps-done'",
    f"sh -c 'docker save {BUSYBOX_TAG} | docker exec -i daemon docker load'",
    f"docker exec daemon docker run --rm {BUSYBOX_TAG} sh -c 'echo nested-container-on-$(uname -m)'",
]


@dataclass(frozen=True)
class Boot:
    status: int
    console: str


@pytest.fixture(scope="module")
def arm64_boot(multiarch: MultiBuild, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Boot]:
    """One boot of the arm64 VM running every command above, then powering itself off."""
    if shutil.which(qemu.machine(ARCH).qemu) is None:
        pytest.fail("qemu-system-aarch64 is missing: run scripts/setup")
    out = tmp_path_factory.mktemp("bare-kernel-arm64")
    busybox = write_busybox_archive(out / "busybox-arm64.tar", arch=ARCH)
    cmd_initramfs.build_initramfs(None, out, arch=ARCH, images=(busybox, multiarch.archives[ARCH]))
    disk = out / "docker-data.img"
    qemu.make_disk(disk, 4096)
    cmdline = cmd_vm.kernel_cmdline(run=COMMANDS, poweroff=True, disk=True, arch=ARCH,
                                    dockerd_args=["--log-level=warn"])  # fmt: skip
    config = qemu.VmConfig(kernel=out / cmd_initramfs.KERNEL_NAME, initrd=out / cmd_initramfs.CPIO_NAME,
                           cmdline=cmdline, memory_mb=3072, cpus=1, disk=disk, arch=ARCH)  # fmt: skip
    with qemu.running_vm(config) as vm:
        try:
            status = vm.wait_exit(BOOT_TIMEOUT_S)
        except Exception:
            print(vm.console()[-8000:])
            raise
        console = vm.console()
    assert vm.process.poll() is not None, "qemu must not outlive the test"
    yield Boot(status, console)
    shutil.rmtree(out, ignore_errors=True)


def test_vm_arm64_runs_a_container_and_powers_off(arm64_boot: Boot) -> None:
    """The arm64 kernel should run our launcher as PID 1, dockerd, an aarch64 container, then power off."""
    console = arm64_boot.console
    assert "bare kernel: PID 1 started" in console, console[-4000:]
    assert READY_MESSAGE in console, console[-4000:]
    assert "\ncontainer-on-aarch64\n" in console, console[-4000:]
    assert "reboot: Power down" in console
    assert arm64_boot.status == 0


def test_vm_arm64_runs_our_arm64_image_as_dind(arm64_boot: Boot) -> None:
    """Inside the arm64 VM our arm64 image should run as DinD: `docker exec daemon docker ps` and a nested run."""
    console = arm64_boot.console
    assert "\nnested-dockerd-ready\n" in console, console[-6000:]
    # The nested daemon's `docker ps` output (its header, no container) right before the marker.
    assert re.search(r"\nCONTAINER ID +IMAGE[^\n]*\nseed-docker-ps-done\n", console), console[-6000:]
    assert "\nnested-container-on-aarch64\n" in console, console[-6000:]
    assert console.count("run: exit status 0") == len(COMMANDS), console[-6000:]
