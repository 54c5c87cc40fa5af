"""Kernel modules without /lib/modules, in a QEMU VM whose kernel has them as modules.

PID 1's launcher loads no modules (DOCKER_LAUNCH_MODULES=off), and the VM's own dockerd
needs none (--bridge=none --iptables=false -s vfs). Our image, loaded at boot, then runs
as DinD without the modules mount: its launcher has no /lib/modules, so the modules
Docker needs come only from the kernel's autoload triggers (launcher/autoload.py). Inside,
overlay2 must be the storage driver and two nested containers must ping each other over
the default bridge, and the DinD log must name what the triggers loaded.
"""

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from docker_from_scratch.builder import cmd_initramfs, cmd_vm, qemu
from docker_from_scratch.launcher.baremetal import READY_MESSAGE
from docker_from_scratch.requirements.layout import IMAGES_DIR
from tests.testing.bare_kernel import write_busybox_archive
from tests.testing.engine import BUSYBOX_TAG

READY_TIMEOUT_S = 600  # TCG on 2 shared cores, with our image (~270 MB) to load at boot
STEP_TIMEOUT_S = 420
DIND = "dind"


@pytest.fixture(scope="module")
def autoload_kernel(default_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """vmlinuz and initramfs.cpio with our image and busybox as archives to load at boot."""
    if shutil.which(qemu.QEMU) is None:
        pytest.fail("qemu-system-x86_64 is missing: run scripts/setup")
    out = tmp_path_factory.mktemp("autoload-kernel")
    busybox = write_busybox_archive(out / "busybox.tar")
    ours = out / "dind.tar"
    subprocess.run(["docker", "save", "-o", str(ours), default_image], check=True)
    cmd_initramfs.build_initramfs(None, out, images=(busybox, ours))
    yield out
    shutil.rmtree(out, ignore_errors=True)  # ~900 MB


def dind_commands(image: str) -> list[str]:
    """The boot commands: start our image as DinD (no /lib/modules), wait, check, show its log."""
    inside = f"docker exec {DIND} sh -c"
    return [
        # --no-healthcheck: under TCG the health probe can starve the nested dockerd's fixed
        # containerd start timeout (as in test_vm_arm64.py).
        f"docker run -d --name {DIND} --privileged --no-healthcheck --network none -v dind-data:/var/lib/docker"
        f" -v {IMAGES_DIR}:/images:ro {image}",
        # No sleep in the image: each failed `docker version` paces the loop (about 1 s under TCG).
        f"sh -c 'i=0; until docker exec {DIND} docker version >/dev/null 2>&1; do i=$((i+1));"
        f" case $i:$(docker inspect -f {{{{.State.Running}}}} {DIND}) in 1500:*|*:false)"
        f" echo DIND-STOPPED; docker logs {DIND}; exit 1;; esac; done; echo DIND-READY'",
        f"docker exec {DIND} docker load -i /images/busybox.tar",
        f"{inside} 'echo DRIVER=$(docker info --format {{{{.Driver}}}})'",
        # br_netfilter is the one module here that nothing but a trigger or modprobe loads
        # (overlay, bridge, veth and nf_tables the kernel also loads on dockerd's first use).
        f"{inside} 'echo WARNINGS=$(docker info --format {{{{json .Warnings}}}})'",
        f"{inside} 'docker run -d --name peer {BUSYBOX_TAG} sleep 300"
        f" && ip=$(docker inspect -f {{{{.NetworkSettings.IPAddress}}}} peer)"
        f" && docker run --rm {BUSYBOX_TAG} busybox ping -c 2 -W 10 $ip && echo PING-OK'",
        f"docker logs {DIND}",
    ]


def launcher_lines(console: str) -> str:
    """The console without dockerd's and containerd's own log lines (time="..."): what the commands said."""
    return "\n".join(line for line in console.splitlines() if not line.startswith("time="))


@pytest.mark.timeout(1500)  # a TCG boot that loads a 260 MB image, then DinD inside it
def test_vm_autoload_loads_modules_for_dind_without_lib_modules(
    autoload_kernel: Path, default_image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """DinD without /lib/modules should get overlay2 and bridge networking from the kernel's autoload triggers."""
    cmdline = cmd_vm.kernel_cmdline(
        run=dind_commands(default_image), poweroff=True, env=["DOCKER_LAUNCH_MODULES=off"],
        dockerd_args=["--bridge=none", "--iptables=false", "-s", "vfs", "--log-level=warn"],
    )  # fmt: skip
    config = qemu.VmConfig(kernel=autoload_kernel / cmd_initramfs.KERNEL_NAME,
                           initrd=autoload_kernel / cmd_initramfs.CPIO_NAME,
                           cmdline=cmdline, memory_mb=3072, cpus=1)  # fmt: skip
    with qemu.running_vm(config) as vm:
        try:
            vm.wait_for(READY_MESSAGE, READY_TIMEOUT_S)
            _, ready = vm.wait_for(r"^DIND-(READY|STOPPED)", STEP_TIMEOUT_S)
            if ready.group(1) != "READY":
                vm.wait_for(r"run: exit status", STEP_TIMEOUT_S)  # its log, printed below
            assert ready.group(1) == "READY", "the DinD container stopped"
            _, driver = vm.wait_for(r"^DRIVER=(\S*)", STEP_TIMEOUT_S)
            _, warnings = vm.wait_for(r"^WARNINGS=(.*)$", STEP_TIMEOUT_S)
            vm.wait_for(r"run: docker logs", STEP_TIMEOUT_S)
            vm.wait_for(r"boot commands done", STEP_TIMEOUT_S)
        except Exception:
            print(launcher_lines(vm.console()))
            raise
        console = vm.console()
    summary = launcher_lines(console)
    triggered = re.search(r"loaded by the kernel's autoload trigger: (.*)$", console, re.MULTILINE)
    with capsys.disabled():
        print(f"\nautoload in the VM: {triggered.group(0) if triggered else 'no trigger line'}")
    assert triggered, summary
    assert {"bridge", "veth", "br_netfilter"} <= set(triggered.group(1).split()), triggered.group(0)
    # The pre-flight leaves module rows to the module step here: no warning for what loads a moment later.
    rows = "kernel modules|bridge|veth|br_netfilter|netfilter nat"
    early = re.findall(rf"warning: +(?:{rows}) missing.*$", console, re.MULTILINE)
    assert not early, early
    assert driver.group(1) == "overlay2", summary
    assert "bridge-nf-call-iptables is disabled" not in warnings.group(1), summary
    assert re.search(r"^PING-OK", console, re.MULTILINE), summary
