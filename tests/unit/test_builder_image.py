"""The image writer: reproducible layer and docker-archive bytes, members as docker expects."""

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from docker_from_scratch.builder.image import ImageConfig, layer_members, write_docker_archive, write_layer
from docker_from_scratch.builder.tree import Entry, FileTree


def small_tree(tmp_path: Path) -> FileTree:
    binary = tmp_path / "tool"
    binary.write_bytes(b"\x7fELF not really")
    binary.chmod(0o755)
    return FileTree(
        [
            Entry("/usr/bin/tool", "file", 0o755, source=binary),
            Entry("/usr/bin/alias", "symlink", 0o777, target="tool"),
            Entry("/etc/passwd", "file", 0o644, data=b"root:x:0:0:root:/root:/bin/sh\n"),
            Entry("/usr/etc/passwd", "hardlink", 0o644, target="/etc/passwd"),
            Entry("/tmp", "dir", 0o1777),
            Entry("/bin", "symlink", 0o777, target="usr/bin"),
        ]
    )


def layer_bytes(tree: FileTree, mtime: int = 0) -> bytes:
    out = io.BytesIO()
    write_layer(tree, out, mtime=mtime)
    return out.getvalue()


def config() -> ImageConfig:
    return ImageConfig(
        arch="amd64",
        entrypoint=("/usr/bin/dockerlaunch", "/usr/bin/dockerd"),
        env=("PATH=/usr/sbin:/usr/bin",),
        volumes=("/var/lib/docker",),
        exposed_ports=("2375/tcp", "2376/tcp"),
        labels={"docker-from-scratch.suite": "trixie"},
    )


def test_layer_is_byte_identical_for_the_same_tree(tmp_path: Path) -> None:
    """Two writes of the same tree should give the same bytes; another mtime gives others."""
    tree = small_tree(tmp_path)
    assert layer_bytes(tree) == layer_bytes(small_tree(tmp_path))
    assert layer_bytes(tree, mtime=1) != layer_bytes(tree)


def test_layer_members_are_sorted_root_owned_and_parents_first(tmp_path: Path) -> None:
    """Members should be sorted, owned by 0:0 without names, with every parent directory."""
    with tarfile.open(fileobj=io.BytesIO(layer_bytes(small_tree(tmp_path)))) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    assert {"usr", "usr/bin", "etc", "usr/etc"} <= set(names)
    assert all(m.uid == 0 and m.gid == 0 and m.uname == "" and m.mtime == 0 for m in members)
    by_name = {m.name: m for m in members}
    assert by_name["usr/bin/tool"].mode == 0o755
    assert by_name["tmp"].mode == 0o1777
    assert by_name["usr/etc/passwd"].islnk() and by_name["usr/etc/passwd"].linkname == "etc/passwd"
    assert by_name["bin"].issym() and by_name["bin"].linkname == "usr/bin"


def test_layer_leaves_unlisted_parents_out() -> None:
    """A parent named in unlisted_parents should get no directory header (it would replace a base's symlink)."""
    tree = FileTree([Entry("/lib64/ld-linux-x86-64.so.2", "symlink", target="/usr/lib/x/ld.so")])
    names = [m.path for m in layer_members(tree, unlisted_parents=("/lib64",))]
    assert names == ["/lib64/ld-linux-x86-64.so.2"]
    assert [m.path for m in layer_members(tree)] == ["/lib64", "/lib64/ld-linux-x86-64.so.2"]


def test_layer_writes_a_hard_link_to_a_later_member_as_a_file(tmp_path: Path) -> None:
    """A hard link sorted before its target should be written as a regular file with its bytes."""
    tree = FileTree([Entry("/a/link", "hardlink", 0o644, target="/z/file"), Entry("/z/file", "file", data=b"z\n")])
    with tarfile.open(fileobj=io.BytesIO(layer_bytes(tree))) as tar:
        member = tar.getmember("a/link")
        assert member.isfile()
        assert tar.extractfile(member).read() == b"z\n"  # type: ignore[union-attr]


def test_docker_archive_is_reproducible_and_self_consistent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same layer and config twice should give identical archives whose digests check out."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    layer = tmp_path / "layer.tar"
    data = layer_bytes(small_tree(tmp_path))
    layer.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    first = write_docker_archive(layer, digest, config(), "docker-from-scratch:latest", tmp_path / "a.tar")
    second = write_docker_archive(layer, digest, config(), "docker-from-scratch:latest", tmp_path / "b.tar")
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    assert first.image_id == second.image_id
    with tarfile.open(tmp_path / "a.tar") as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        config_bytes = tar.extractfile(manifest[0]["Config"]).read()  # type: ignore[union-attr]
        layer_blob = tar.extractfile(manifest[0]["Layers"][0]).read()  # type: ignore[union-attr]
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] == ["docker-from-scratch:latest"]
    assert first.image_id == "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    assert hashlib.sha256(layer_blob).hexdigest() == digest
    document = json.loads(config_bytes)
    assert document["rootfs"]["diff_ids"] == [f"sha256:{digest}"]
    assert document["config"]["Entrypoint"] == ["/usr/bin/dockerlaunch", "/usr/bin/dockerd"]
    assert document["config"]["Volumes"] == {"/var/lib/docker": {}}
    assert document["config"]["ExposedPorts"] == {"2375/tcp": {}, "2376/tcp": {}}
    assert document["config"]["StopSignal"] == "SIGTERM"
    assert document["created"] == "1970-01-01T00:00:00Z"
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "latest"


def test_docker_archive_created_date_follows_source_date_epoch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SOURCE_DATE_EPOCH should set the config's created date (and so the image ID)."""
    layer = tmp_path / "layer.tar"
    layer.write_bytes(layer_bytes(small_tree(tmp_path)))
    digest = hashlib.sha256(layer.read_bytes()).hexdigest()
    plain = write_docker_archive(layer, digest, config(), "x:1", tmp_path / "a.tar")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    dated = write_docker_archive(layer, digest, config(), "x:1", tmp_path / "b.tar")
    assert plain.image_id != dated.image_id


def test_layer_keeps_setuid_bits_and_owners() -> None:
    """A setuid-root file should keep 04755 in the layer, and an entry's owner its uid and gid."""
    tree = FileTree(
        [
            Entry("/usr/bin/newuidmap", "file", 0o4755, data=b"\x7fELF", package="uidmap"),
            Entry("/home/rootless", "dir", 0o755, package="generated", owner=1000),
        ]
    )
    out = io.BytesIO()
    write_layer(tree, out, mtime=0)
    out.seek(0)
    with tarfile.open(fileobj=out) as tar:
        members = {member.name: member for member in tar}
    assert members["usr/bin/newuidmap"].mode == 0o4755 and members["usr/bin/newuidmap"].uid == 0
    assert (members["home/rootless"].uid, members["home/rootless"].gid) == (1000, 1000)
    assert members["home"].uid == 0  # parents nobody listed stay root's


def test_image_config_sets_user_only_when_given() -> None:
    """The rootless image's config should carry User; the rootful one none."""

    def config(user: str) -> dict[str, object]:
        image = ImageConfig(
            arch="amd64", entrypoint=("/x",), env=(), volumes=(), exposed_ports=(), labels={}, user=user
        )
        document: dict[str, object] = image.document("0" * 64, "1970-01-01T00:00:00Z")["config"]
        return document

    assert "User" not in config("")
    assert config("rootless")["User"] == "rootless"
