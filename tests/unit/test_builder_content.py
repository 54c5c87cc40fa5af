"""What goes into the image: the CA bundle, program look-up, and the export tree."""

from pathlib import Path

from docker_from_scratch.builder.build import export_tree
from docker_from_scratch.builder.content import ROOTLESS_USER, add_etc, add_layout, ca_bundle, path_in_packages
from docker_from_scratch.builder.elf import Closure
from docker_from_scratch.builder.tree import Entry, FileTree


def test_ca_bundle_concatenates_sorted_certificates_with_newlines() -> None:
    """The bundle should be every .crt in name order, each ending in a newline (as update-ca-certificates)."""
    entries = [
        Entry("/usr/share/ca-certificates/mozilla/B.crt", "file", data=b"B"),
        Entry("/usr/share/ca-certificates/mozilla/A.crt", "file", data=b"A\n"),
        Entry("/usr/share/doc/ca-certificates/README", "file", data=b"no"),
    ]
    assert ca_bundle(entries) == b"A\nB\n"


def test_find_program_takes_the_first_package_that_has_it() -> None:
    """docker should come from docker-cli when the suite has it, else from docker.io."""
    per_package = {
        "docker-cli": FileTree([Entry("/usr/bin/docker", "file", data=b"cli")]),
        "docker.io": FileTree([Entry("/usr/sbin/dockerd", "file", data=b"d"), Entry("/usr/bin/docker", "file")]),
    }
    assert path_in_packages(per_package, ["docker-cli", "docker.io"], "docker") == "/usr/bin/docker"
    assert path_in_packages(per_package, ["docker.io"], "dockerd") == "/usr/sbin/dockerd"
    assert path_in_packages(per_package, ["docker-cli"], "dockerd") is None


def test_export_tree_leaves_etc_and_top_level_links_to_the_base(tmp_path: Path) -> None:
    """Export should drop /etc, /bin-style links and our os-release; /usr/etc links become files."""
    tree = FileTree(
        [
            Entry("/etc", "dir", 0o755),
            Entry("/etc/passwd", "file", data=b"root\n"),
            Entry("/usr/etc/passwd", "hardlink", target="/etc/passwd"),
            Entry("/bin", "symlink", target="usr/bin"),
            Entry("/lib64", "symlink", target="usr/lib64"),
            Entry("/usr/lib64/ld-linux-x86-64.so.2", "symlink", target="../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
            Entry("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "file", 0o755, data=b"\x7fELF"),
            Entry("/usr/bin/dockerlaunch", "file", 0o755, data=b"#!"),
            Entry("/usr/bin/python3", "symlink", target="python3.13"),
            Entry("/usr/lib/os-release", "file", data=b"ID=docker-from-scratch\n"),
        ]
    )
    exported = export_tree(tree, "/lib64/ld-linux-x86-64.so.2")
    assert exported.paths() == [
        "/lib64/ld-linux-x86-64.so.2",
        "/usr/bin/dockerlaunch",
        "/usr/bin/python3",
        "/usr/etc/passwd",
        "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        "/usr/lib64/ld-linux-x86-64.so.2",
    ]
    # The loader at its PT_INTERP path, as an absolute link: valid at /lib64 and, through a
    # merged base's /lib64 link, at /usr/lib64 alike.
    assert exported["/lib64/ld-linux-x86-64.so.2"].target == "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    passwd = exported["/usr/etc/passwd"]
    assert passwd.kind == "file" and passwd.read_bytes() == b"root\n"


def test_add_layout_links_lib64_only_when_the_loader_lives_there() -> None:
    """add_layout should add /lib64 for an amd64 loader and leave it out for arm64's /lib loader."""
    amd64, arm64 = FileTree(), FileTree()
    add_layout(amd64, Closure(FileTree(), "amd64"), "trixie", "/lib64/ld-linux-x86-64.so.2")
    add_layout(arm64, Closure(FileTree(), "arm64"), "trixie", "/lib/ld-linux-aarch64.so.1")
    assert amd64["/lib64"].target == "usr/lib64" and amd64["/lib"].target == "usr/lib"
    assert "/lib64" not in arm64 and arm64["/bin"].target == "usr/bin"


def test_add_etc_rootless_adds_its_user_and_keeps_the_defaults_under_usr() -> None:
    """add_etc should add the rootless user to passwd and group, and hard-link both under /usr/etc."""
    image = FileTree()
    add_etc(image, Closure(FileTree(), "amd64"), rootless=True)
    passwd, group = image["/etc/passwd"].read_bytes().decode(), image["/etc/group"].read_bytes().decode()
    assert passwd.startswith("root:x:0:0:") and f"\n{ROOTLESS_USER}:x:1000:1000:" in passwd
    assert f"\n{ROOTLESS_USER}:x:1000:" in group and "/etc/subuid" in image
    assert image["/usr/etc/passwd"].kind == "hardlink" and image["/usr/etc/passwd"].target == "/etc/passwd"
