"""The size report's compressors: gzip in process, zstd through the builder's door."""

from docker_from_scratch.builder import report


def test_compress_measures_bytes_gzip_and_zstd() -> None:
    """Chunks fed to the compressors should give their byte count and both compressed sizes."""
    chunks = [b"docker-from-scratch " * 500, bytes(range(256)) * 8]
    size = report._compress(iter(chunks), use_zstd=True)
    assert size.bytes == sum(map(len, chunks))
    assert 0 < size.gzip < size.bytes and 0 < size.zstd < size.bytes


def test_compress_without_zstd_leaves_its_size_empty() -> None:
    """Without zstd only gzip should be measured."""
    size = report._compress(iter([b"x" * 1000]), use_zstd=False)
    assert size.bytes == 1000 and size.gzip > 0 and size.zstd is None
