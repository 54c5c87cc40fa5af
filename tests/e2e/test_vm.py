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
from docker_from_scratch.launcher.baremetal import PID1_MESSAGE, READY_MESSAGE
from tests.testing.bare_kernel import write_busybox_archive
from tests.testing.engine import BUSYBOX_TAG

pytestmark = pytest.mark.skipif(shutil.which(qemu.QEMU) is None, reason="needs qemu-system-x86 (scripts/setup)")

READY_TIMEOUT_S = 420  # TCG on 2 shared cores: measured 20-30 s of guest time here
STEP_TIMEOUT_S = 240
GREETING = "hello-from-the-vm"
AFTER_INIT = r"(\d+\.\d) s after the kernel ran /init"


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
            ready_at, ready = vm.wait_for(rf"{READY_MESSAGE} .*{AFTER_INIT}", READY_TIMEOUT_S)
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
    assert re.search(r"reboot: Power down", console)
    # Two clocks: the guest's (from the kernel's "Run /init" record; under TCG on a busy host
    # its TSC calibration can be off) and the host's (console line arrival, from PID 1's
    # first line, which comes after the interpreter started: a lower bound).
    report(capsys, [
        f"accelerator {qemu.choose_accel()}, 1 vCPU, 2048 MB; PID 1 up {pid1_at:.1f} s after qemu started",
        f"/init -> dockerd answering: {ready[1]} s guest clock, {ready_at - pid1_at:.1f} s host clock from PID 1",
        f"/init -> first container output: {first[1]} s guest clock, {first_at - pid1_at:.1f} s host clock from PID 1",
    ])  # fmt: skip
