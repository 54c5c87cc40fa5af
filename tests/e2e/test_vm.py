"""The launcher as PID 1 of a QEMU VM (TCG here): dockerd answers, a container runs, power-off.

The initramfs holds the image's own files (assembled as `build` does), Debian's kernel
modules, and a busybox image archive that PID 1 loads at boot (no network, no registry).
Timings from the guest's own clock are printed: the kernel's exec of /init to dockerd
answering, and to the first output of the first container.
"""

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from docker_from_scratch.builder import cmd_initramfs, cmd_vm, qemu
from docker_from_scratch.launcher.baremetal import EXEC_MESSAGE, MODULES_MESSAGE, PID1_MESSAGE, READY_MESSAGE
from tests.testing.bare_kernel import write_busybox_archive
from tests.testing.engine import BUSYBOX_TAG


@pytest.fixture(autouse=True)
def qemu_installed() -> None:
    """scripts/setup installs qemu-system-x86: without it these tests fail, never skip."""
    if shutil.which(qemu.QEMU) is None:
        pytest.fail("qemu-system-x86_64 is missing: run scripts/setup")

READY_TIMEOUT_S = 420  # TCG on 2 shared cores: measured 20-30 s of guest time here
STEP_TIMEOUT_S = 240
GREETING = "hello-from-the-vm"
AFTER_INIT = r"\b(\d+\.\d+) s after the kernel ran /init"


@pytest.fixture(scope="module")
def bare_kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """vmlinuz and initramfs.cpio of the image, with the busybox archive to load at boot."""
    out = tmp_path_factory.mktemp("bare-kernel")
    busybox = write_busybox_archive(out / "busybox.tar")
    cmd_initramfs.build_initramfs(None, out, images=(busybox,))
    yield out
    shutil.rmtree(out, ignore_errors=True)  # ~300 MB


def boot_config(directory: Path, cmdline: str, disk: Path | None = None) -> qemu.VmConfig:
    return qemu.VmConfig(kernel=directory / cmd_initramfs.KERNEL_NAME, initrd=directory / cmd_initramfs.CPIO_NAME,
                         cmdline=cmdline, memory_mb=2048, cpus=1, disk=disk)  # fmt: skip


def report(capsys: pytest.CaptureFixture[str], lines: list[str]) -> None:
    """Print to the test log even while pytest captures output."""
    with capsys.disabled():
        print()
        for line in lines:
            print(f"bare-kernel timing: {line}")


def test_vm_runs_a_container_and_powers_off_on_ctrl_alt_delete(
    bare_kernel: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """PID 1 should bring dockerd up, run a loaded image's container, and power off on Ctrl-Alt-Del."""
    command = f"docker run --rm {BUSYBOX_TAG} echo {GREETING}"
    cmdline = cmd_vm.kernel_cmdline(run=[command], dockerd_args=["--log-level=warn"])
    with qemu.running_vm(boot_config(bare_kernel, cmdline)) as vm:
        try:
            pid1_at, _ = vm.wait_for(PID1_MESSAGE, READY_TIMEOUT_S)
            ready_at, ready = vm.wait_for(rf"{READY_MESSAGE} on \S+, {AFTER_INIT}", READY_TIMEOUT_S)
            first_at, first = vm.wait_for(rf"first output {AFTER_INIT}", STEP_TIMEOUT_S)
            vm.wait_for(rf"^{GREETING}$", STEP_TIMEOUT_S)
            vm.wait_for(r"run: exit status 0$", STEP_TIMEOUT_S)
            vm.press_ctrl_alt_delete()
            status = vm.wait_exit(STEP_TIMEOUT_S)
        except Exception:
            print(vm.console()[-6000:])
            raise
        console = vm.console()
    assert vm.process.poll() is not None, "qemu must not outlive the test"
    assert status == 0, f"qemu exit status {status}"
    assert "SIGINT: stopping dockerd, then powering off" in console
    # PID 1 loaded the modules in one run and forked the launcher, which exec'd dockerd.
    assert re.search(rf"{MODULES_MESSAGE} \d+ asked for in one modprobe", console)
    assert re.search(rf"{EXEC_MESSAGE} \S*/dockerd at uptime", console)  # /proc/PID/exe: the resolved path
    assert re.search(r"reboot: Power down", console)
    # Two clocks: the guest's (from the kernel's "Run /init" log record) and the host's
    # (console line arrival, from PID 1's first line: after the interpreter started).
    report(capsys, [
        f"accelerator {qemu.choose_accel()}, 1 vCPU, 2048 MB; PID 1 up {pid1_at:.1f} s after qemu started",
        f"/init -> dockerd answering: {ready[1]} s guest clock, {ready_at - pid1_at:.1f} s host clock from PID 1",
        f"/init -> first container output: {first[1]} s guest clock, {first_at - pid1_at:.1f} s host clock from PID 1",
    ])  # fmt: skip


# --- issue 4's cgroup v2 nesting: our image as a DinD container under the VM's dockerd ------

NESTED_TAG = "docker-from-scratch:vm-test"
# Each runs once dockerd answers (no double quotes: they delimit the kernel's value).
NESTED_COMMANDS = [
    "docker info --format 'outer-cgroup-v{{.CgroupVersion}} data-on-{{json .DriverStatus}}'",
    f"docker run -d --name dind --privileged -v dind-data:/var/lib/docker {NESTED_TAG}",
    # No sleep in the image: each `docker exec` takes a good part of a second under TCG.
    "sh -c 'i=0; until docker exec dind docker version >/dev/null 2>&1; do i=$((i+1));"
    " if [ $i -gt 600 ]; then docker logs dind; exit 1; fi; done; echo nested-dockerd-ready'",
    f"sh -c 'docker save {BUSYBOX_TAG} | docker exec -i dind docker load'",
    "docker exec dind docker info --format 'nested-cgroup-v{{.CgroupVersion}}'",
    f"docker exec dind docker run --rm {BUSYBOX_TAG} sh -c 'echo nested-container-cgroup-$(cat /proc/self/cgroup)'",
]


@pytest.fixture(scope="module")
def bare_kernel_with_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An initramfs that also ships our image's archive, for a DinD container inside the VM."""
    from docker_from_scratch.builder.build import build_image

    out = tmp_path_factory.mktemp("bare-kernel-dind")
    built = build_image(output=out / "image", tag=NESTED_TAG)
    busybox = write_busybox_archive(out / "busybox.tar")
    cmd_initramfs.build_initramfs(None, out, images=(busybox, built.archive))
    shutil.rmtree(out / "image")
    yield out
    shutil.rmtree(out, ignore_errors=True)


def test_vm_runs_our_image_as_dind_on_cgroup_v2_with_a_data_disk(
    bare_kernel_with_image: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On the VM's pure cgroup v2, our image should run as DinD and start a nested container."""
    disk = tmp_path / "docker-data.img"
    qemu.make_disk(disk, 4096)
    cmdline = cmd_vm.kernel_cmdline(run=NESTED_COMMANDS, poweroff=True, disk=True, dockerd_args=["--log-level=warn"])
    config = boot_config(bare_kernel_with_image, cmdline, disk=disk)
    config.memory_mb = 3072
    with qemu.running_vm(config) as vm:
        try:
            vm.wait_for(READY_MESSAGE, READY_TIMEOUT_S)
            outer_at, outer = vm.wait_for(r"^outer-cgroup-v(\d) data-on-(.*)$", STEP_TIMEOUT_S)
            ready_at, _ = vm.wait_for(r"^nested-dockerd-ready$", 2 * STEP_TIMEOUT_S)
            _, nested = vm.wait_for(r"^nested-cgroup-v(\d)$", STEP_TIMEOUT_S)
            done_at, container = vm.wait_for(r"^nested-container-cgroup-(\S+)$", STEP_TIMEOUT_S)
            status = vm.wait_exit(STEP_TIMEOUT_S)  # dockerlaunch.poweroff=1 after the last command
        except Exception:
            print(vm.console()[-8000:])
            raise
    assert status == 0
    assert (outer[1], nested[1]) == ("2", "2"), "the VM and the nested daemon should both use cgroup v2"
    assert "extfs" in outer[2], f"/var/lib/docker should be the ext4 disk: {outer[2]}"
    assert container[1] == "0::/", "a nested container should see its own cgroup namespace root"
    report(capsys, [
        f"nested DinD: outer ready -> nested dockerd answering {ready_at - outer_at:.1f} s,"
        f" -> nested container output {done_at - outer_at:.1f} s (host clock)",
    ])  # fmt: skip
