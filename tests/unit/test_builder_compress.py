"""The layer's compression (build --compress): parsing, the real tools, the archive that carries the blob."""

import gzip
import hashlib
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from docker_from_scratch.builder import cmd_build, compress
from docker_from_scratch.builder.errors import BuildError
from docker_from_scratch.builder.image import build_layer_file, write_docker_archive
from tests.unit.test_builder_image import config, small_tree


@pytest.mark.parametrize(
    ("text", "expected"),
    [("none", compress.NONE), ("gzip", compress.Compression("gzip", 6)), ("gzip:1", compress.Compression("gzip", 1)),
     ("zstd", compress.Compression("zstd", 19)), ("zstd:3", compress.Compression("zstd", 3))],
)  # fmt: skip
def test_compress_parse_takes_a_name_and_an_optional_level(text: str, expected: compress.Compression) -> None:
    """A known name should give its default level, NAME:LEVEL that level."""
    assert compress.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [("lz4", "unknown compression 'lz4'"), ("zstd:20", "zstd level '20': use 1 to 19"),
     ("gzip:0", "gzip level '0': use 1 to 9"), ("zstd:", "zstd level ''"), ("none:1", "takes no level")],
)  # fmt: skip
def test_compress_parse_refuses_unknown_names_and_levels(text: str, message: str) -> None:
    """An unknown name or a level out of the tool's range should be refused, naming the choices."""
    with pytest.raises(ValueError, match=message):
        compress.parse(text)


def test_build_verb_refuses_a_bad_compress_as_a_usage_error() -> None:
    """`build --compress zstd:99` should exit 2 with argparse's one line, before anything is built."""
    result = subprocess.run(
        [sys.executable, "-m", "docker_from_scratch.cli", "build", "--compress", "zstd:99", "-o", "/nonexistent/x"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result
    assert "--compress: zstd level '99': use 1 to 19" in result.stderr
    assert cmd_build.compression("zstd:3") == compress.Compression("zstd", 3)


def test_compress_check_tool_names_the_missing_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """A missing zstd program should stop the build at once with a hint naming the Debian package."""
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(BuildError, match="needs the zstd program") as caught:
        compress.check_tool(compress.Compression("zstd", 3))
    assert caught.value.hint is not None and "apt-get install zstd" in caught.value.hint
    compress.check_tool(compress.NONE)  # nothing to run, nothing to check


@pytest.mark.parametrize("spec", ["gzip:6", "zstd:3"])
def test_compressed_archive_is_reproducible_and_keeps_the_image_id(tmp_path: Path, spec: str) -> None:
    """A compressed layer should give the same bytes twice, the uncompressed archive's image ID,
    a manifest naming the blob by its own digest and media type, and the layer back when decompressed."""
    tree = small_tree(tmp_path)
    layer, diff_id, _size = build_layer_file(tree, tmp_path)
    compression = compress.parse(spec)
    plain = write_docker_archive(layer, diff_id, config(), "x:1", tmp_path / "plain.tar")
    archives = []
    for name in ("a.tar", "b.tar"):
        blob = compress.compress_layer(layer, compression, tmp_path)
        archives.append(write_docker_archive(layer, diff_id, config(), "x:1", tmp_path / name, blob=blob))
        blob.path.unlink()
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    assert archives[0].image_id == plain.image_id
    with tarfile.open(tmp_path / "a.tar") as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        stored = tar.extractfile(manifest[0]["Layers"][0]).read()  # type: ignore[union-attr]
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
        oci_name = "blobs/sha256/" + index["manifests"][0]["digest"].removeprefix("sha256:")
        oci = json.load(tar.extractfile(oci_name))  # type: ignore[arg-type]
    digest = hashlib.sha256(stored).hexdigest()
    assert manifest[0]["Layers"] == [f"blobs/sha256/{digest}"]
    assert oci["layers"] == [
        {"mediaType": f"application/vnd.oci.image.layer.v1.tar+{compression.name}",
         "digest": f"sha256:{digest}", "size": len(stored)}
    ]  # fmt: skip
    assert archives[0].blob_size == len(stored)
    if compression.name == "gzip":
        unpacked = gzip.decompress(stored)
    else:
        unpacked = subprocess.run(["zstd", "-d", "-c"], input=stored, capture_output=True, check=True).stdout
    assert unpacked == layer.read_bytes()
    assert hashlib.sha256(unpacked).hexdigest() == diff_id
    layer.unlink()


def test_compress_layer_failure_leaves_no_blob(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A compressor that fails should raise BuildError naming it and leave no temporary blob behind."""
    layer = tmp_path / "layer.tar"
    layer.write_bytes(b"x" * 1000)
    (tmp_path / "out").mkdir()
    # the real zstd given an unknown flag: it exits 1, as a tool failing mid-stream would
    monkeypatch.setattr(compress.Compression, "argv", lambda self: ["zstd", "--no-such-flag"])
    with pytest.raises(BuildError, match="zstd --no-such-flag failed with exit status 1"):
        compress.compress_layer(layer, compress.Compression("zstd", 3), tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []
