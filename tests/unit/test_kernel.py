"""The kernel's module closure, module decompression and the bare-kernel command lines."""

import lzma
from pathlib import Path

import pytest

from docker_from_scratch.builder import cmd_vm, initramfs, kernel, qemu
from docker_from_scratch.builder.errors import BuildError
from docker_from_scratch.launcher import baremetal
from docker_from_scratch.requirements.modules import module_name, parse_module_list, parse_modules_dep

# Lines of Debian 13's modules.dep (6.12, depmod output of the unpacked package).
MODULES_DEP = """\
kernel/fs/overlayfs/overlay.ko.xz:
kernel/net/bridge/br_netfilter.ko.xz: kernel/net/bridge/bridge.ko.xz kernel/net/802/stp.ko.xz kernel/net/llc/llc.ko.xz
kernel/net/bridge/bridge.ko.xz: kernel/net/802/stp.ko.xz kernel/net/llc/llc.ko.xz
kernel/net/802/stp.ko.xz: kernel/net/llc/llc.ko.xz
kernel/net/llc/llc.ko.xz:
kernel/net/netfilter/nf_tables.ko.xz: kernel/net/netfilter/nfnetlink.ko.xz kernel/lib/libcrc32c.ko.xz
kernel/net/netfilter/nfnetlink.ko.xz:
kernel/lib/libcrc32c.ko.xz:
kernel/drivers/block/virtio-blk.ko.xz:
"""
BUILTIN = "kernel/crypto/crc32c_generic.ko\nkernel/fs/ext4/ext4.ko\n"


def test_module_name_strips_directory_suffix_and_dashes() -> None:
    """A module's name should be its file name without .ko(.xz), dashes as underscores."""
    assert module_name("kernel/drivers/block/virtio-blk.ko.xz") == "virtio_blk"
    assert module_name("kernel/fs/overlayfs/overlay.ko") == "overlay"
    assert module_name("kernel/net/x.ko.zst") == "x"


def test_module_closure_includes_every_dependency() -> None:
    """br_netfilter should bring bridge, stp and llc along, each path once."""
    table = parse_modules_dep(MODULES_DEP)
    paths = kernel.module_closure(table, ["br_netfilter", "bridge"])
    assert paths == [
        "kernel/net/802/stp.ko.xz",
        "kernel/net/bridge/br_netfilter.ko.xz",
        "kernel/net/bridge/bridge.ko.xz",
        "kernel/net/llc/llc.ko.xz",
    ]


def test_module_closure_accepts_dashed_and_builtin_names() -> None:
    """A name with dashes should match, and a built-in module should need no file."""
    table = parse_modules_dep(MODULES_DEP)
    builtin = parse_module_list(BUILTIN)
    paths = kernel.module_closure(table, ["virtio-blk", "crc32c_generic", "ext4"], builtin)
    assert paths == ["kernel/drivers/block/virtio-blk.ko.xz"]


def test_module_closure_rejects_an_unknown_module() -> None:
    """A module neither in modules.dep nor built in should stop the build, naming it."""
    table = parse_modules_dep(MODULES_DEP)
    with pytest.raises(BuildError, match="no module nosuchmod"):
        kernel.module_closure(table, ["overlay", "nosuchmod"])


def test_plain_module_path_drops_only_the_compression_suffix() -> None:
    """kernel/fs/x.ko.xz should become kernel/fs/x.ko; a plain .ko stays as it is."""
    assert kernel.plain_module_path("kernel/fs/overlayfs/overlay.ko.xz") == "kernel/fs/overlayfs/overlay.ko"
    assert kernel.plain_module_path("kernel/fs/overlayfs/overlay.ko") == "kernel/fs/overlayfs/overlay.ko"


def test_decompress_module_writes_the_original_bytes(tmp_path: Path) -> None:
    """An .ko.xz should be written out as the bytes that were compressed."""
    original = b"\x7fELF" + bytes(range(256)) * 64
    packed = tmp_path / "m.ko.xz"
    packed.write_bytes(lzma.compress(original, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32))
    kernel.decompress_module(packed, tmp_path / "out" / "m.ko")
    assert (tmp_path / "out" / "m.ko").read_bytes() == original


def test_decompress_module_zstd_round_trip_and_corrupt_input(tmp_path: Path) -> None:
    """An .ko.zst should come out as its bytes; a corrupt one should be one BuildError naming zstd."""
    import subprocess

    original = b"\x7fELF" + bytes(range(256)) * 64
    plain = tmp_path / "m.ko"
    plain.write_bytes(original)
    subprocess.run(["zstd", "-q", "-o", str(tmp_path / "m.ko.zst"), str(plain)], check=True)
    kernel.decompress_module(tmp_path / "m.ko.zst", tmp_path / "out" / "m.ko")
    assert (tmp_path / "out" / "m.ko").read_bytes() == original
    (tmp_path / "bad.ko.zst").write_bytes(b"not zstd at all")
    with pytest.raises(BuildError, match=r"zstd -dcq .*bad\.ko\.zst failed with exit status \d+"):
        kernel.decompress_module(tmp_path / "bad.ko.zst", tmp_path / "out" / "bad.ko")


def test_boot_options_read_from_the_kernel_command_line() -> None:
    """dockerlaunch.* words before -- should set hostname, data disk, commands and power-off."""
    options = baremetal.parse_cmdline(
        'console=ttyS0 dockerlaunch.hostname=vm1 dockerlaunch.data=/dev/vda '
        'dockerlaunch.run="docker run --rm bb echo hi" dockerlaunch.run="docker ps" '
        "dockerlaunch.poweroff=1 -- dockerlaunch.run=ignored --debug"
    )
    assert options.hostname == "vm1"
    assert options.data_device == "/dev/vda"
    assert options.run == ["docker run --rm bb echo hi", "docker ps"]
    assert options.poweroff_after_run


def test_boot_options_default_to_tmpfs_and_no_commands() -> None:
    """Without dockerlaunch.* words: hostname docker, tmpfs data root, nothing to run."""
    options = baremetal.parse_cmdline("console=ttyS0 quiet panic=-1\n")
    assert (options.hostname, options.data_device, options.run, options.poweroff_after_run) == (
        "docker", None, [], False,
    )  # fmt: skip


def test_vm_cmdline_round_trips_through_the_boot_options() -> None:
    """What the vm verb writes should be what PID 1 reads back."""
    line = cmd_vm.kernel_cmdline(
        run=["docker run --rm bb echo 'a b'"], poweroff=True, disk=True, hostname="h",
        env=["DOCKER_LAUNCH_DEBUG=true"], dockerd_args=["--log-level=warn"],
    )  # fmt: skip
    options = baremetal.parse_cmdline(line)
    assert options.run == ["docker run --rm bb echo 'a b'"]
    assert (options.hostname, options.data_device, options.poweroff_after_run) == ("h", "/dev/vda", True)
    assert line.endswith(" DOCKER_LAUNCH_DEBUG=true -- --log-level=warn")


def test_vm_cmdline_rejects_what_the_kernel_cannot_carry() -> None:
    """A double quote in a command, or a dotted --env name, should be refused with a reason."""
    with pytest.raises(BuildError, match="double quotes"):
        cmd_vm.kernel_cmdline(run=['sh -c "echo hi"'])
    with pytest.raises(BuildError, match="init's environment"):
        cmd_vm.kernel_cmdline(env=["a.b=c"])


def test_kvm_is_used_only_with_a_vendor_module(tmp_path: Path) -> None:
    """kvm_pvm alone (these machines) should mean TCG; kvm_intel with a usable device, KVM."""
    device = tmp_path / "kvm"
    device.write_bytes(b"")
    (tmp_path / "kvm_pvm").mkdir()
    assert not qemu.kvm_usable(tmp_path, str(device))
    (tmp_path / "kvm_intel").mkdir()
    assert qemu.kvm_usable(tmp_path, str(device))
    assert not qemu.kvm_usable(tmp_path, str(tmp_path / "missing"))


def test_qemu_argv_has_no_network_and_exits_on_reboot(tmp_path: Path) -> None:
    """The VM should get no NIC, a serial console, QMP, and end (not reboot) on power-off or panic."""
    config = qemu.VmConfig(kernel=tmp_path / "vmlinuz", initrd=tmp_path / "initrd", cmdline="console=ttyS0",
                           disk=tmp_path / "disk.img", accel="tcg")  # fmt: skip
    argv = qemu.qemu_argv(config, tmp_path / "qmp.sock")
    pairs = dict(zip(argv[1::2], argv[2::2], strict=False))
    assert argv[0] == qemu.QEMU
    assert pairs["-accel"] == "tcg" and pairs["-nic"] == "none" and pairs["-serial"] == "stdio"
    assert pairs["-smp"] == "1" and pairs["-append"] == "console=ttyS0"
    assert "-no-reboot" in argv
    assert f"file={tmp_path / 'disk.img'},format=raw,if=virtio" in " ".join(argv)
    with pytest.raises(BuildError, match="unknown accelerator"):
        qemu.choose_accel("hvf")


def test_root_fs_type_tells_the_initramfs_from_a_real_root(tmp_path: Path) -> None:
    """mountinfo's / entry should say rootfs on an initramfs (root switch needed), ext4 otherwise."""
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text("1 1 0:2 / / rw - rootfs rootfs rw,size=1007252k\n")
    assert baremetal.root_fs_type(str(mountinfo)) == "rootfs"
    mountinfo.write_text(
        "22 1 0:21 / /proc rw,nosuid - proc proc rw\n"
        "21 0 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
    )
    assert baremetal.root_fs_type(str(mountinfo)) == "ext4"


def test_pid1_runs_dockerd_as_the_image_entrypoint_does() -> None:
    """PID 1's default arguments should be the image's ENTRYPOINT after the launcher."""
    from docker_from_scratch.builder.build import ENTRYPOINT

    assert ENTRYPOINT[0] == "/" + initramfs.LAUNCHER
    assert ENTRYPOINT[1:] == baremetal.ENTRYPOINT_ARGS


def test_make_disk_failure_is_one_line_and_leaves_no_disk(tmp_path: Path) -> None:
    """A failing mkfs.ext4 should be one BuildError in words, and the half-made disk file removed."""
    disk = tmp_path / "data.img"
    with pytest.raises(BuildError, match=r"^mkfs\.ext4 .* failed with exit status \d+: .+"):
        qemu.make_disk(disk, 0)  # an empty file: mkfs.ext4 refuses a zero-sized device
    assert not disk.exists()


def test_make_disk_makes_an_ext4_file_system(tmp_path: Path) -> None:
    """make_disk should leave a sparse file with an ext4 superblock labelled docker-data."""
    disk = tmp_path / "data.img"
    qemu.make_disk(disk, 8)
    superblock = disk.read_bytes()[1024:2048]
    assert superblock[56:58] == b"\x53\xef" and superblock[120:131] == b"docker-data"
