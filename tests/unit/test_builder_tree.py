"""The image's file tree: merged /usr paths and symlink resolution."""

from docker_from_scratch.builder.tree import Entry, FileTree, merged_link_target, usr_merged


def test_usr_merged_moves_top_level_dirs_into_usr() -> None:
    """/bin, /sbin, /lib, /lib64 paths should land under /usr; others stay."""
    assert usr_merged("/bin/sh") == "/usr/bin/sh"
    assert usr_merged("/lib64/ld-linux-x86-64.so.2") == "/usr/lib64/ld-linux-x86-64.so.2"
    assert usr_merged("/sbin/modprobe") == "/usr/sbin/modprobe"
    assert usr_merged("/etc/passwd") == "/etc/passwd"
    assert usr_merged("/library/x") == "/library/x"


def test_merged_link_target_keeps_pointing_at_the_same_file() -> None:
    """A relative link moved into /usr should be rewritten to reach the same (merged) file."""
    # bookworm's kmod: /sbin/modprobe -> /bin/kmod (absolute) and relative forms
    assert merged_link_target("/sbin/modprobe", "/bin/kmod", "/usr/sbin/modprobe") == "/usr/bin/kmod"
    assert merged_link_target("/sbin/modprobe", "../bin/kmod", "/usr/sbin/modprobe") == "../bin/kmod"
    assert merged_link_target("/usr/sbin/x", "../../lib/y", "/usr/sbin/x") == "../lib/y"
    assert merged_link_target("/usr/bin/git", "../lib/git-core/git", "/usr/bin/git") == "../lib/git-core/git"


def test_resolve_follows_links_in_every_component() -> None:
    """resolve() should follow a directory link and a file link chain to the real file."""
    tree = FileTree(
        [
            Entry("/usr/lib64/ld-linux-x86-64.so.2", "symlink", target="../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
            Entry("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "file", data=b"x"),
            Entry("/usr/bin/python3", "symlink", target="python3.13"),
            Entry("/usr/bin/python3.13", "file", data=b"y"),
        ]
    )
    assert tree.resolve("/lib64/ld-linux-x86-64.so.2") == "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    assert tree.link_chain("/bin/python3") == ["/usr/bin/python3", "/usr/bin/python3.13"]
    assert tree.regular("/usr/bin/python3") is tree.get("/usr/bin/python3.13")


def test_content_entry_of_a_hard_link_is_its_target() -> None:
    """A hard link's bytes should come from the entry it links to."""
    real = Entry("/etc/passwd", "file", data=b"root\n")
    tree = FileTree([real, Entry("/usr/etc/passwd", "hardlink", target="/etc/passwd")])
    assert tree.content_entry(tree["/usr/etc/passwd"]).read_bytes() == b"root\n"
