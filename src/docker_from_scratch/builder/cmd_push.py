"""``docker-from-scratch push``: send an image archive to a registry with skopeo.

No registry protocol is written here: ``skopeo copy --all`` (Debian's skopeo) reads the
archive ``build`` wrote and pushes every blob, each platform's manifest and, for a
multi-platform archive, the image index under the tag. The equivalent command is::

    skopeo copy --all oci-archive:out/docker-from-scratch-trixie-amd64-arm64.oci.tar \\
        docker://registry.example:5000/docker-from-scratch:latest

A single-architecture archive (``build`` without several ``--arch``) goes as a
docker-archive. skopeo gzips the archive's uncompressed layers on the way (its registry
destination always asks for compressed layers), so the manifests and the index in the
registry have other digests than the archive's; the platforms and the files are the same.
"""

import argparse
import shutil
import tarfile
from pathlib import Path

from docker_from_scratch.builder.errors import BuildError
from docker_from_scratch.builder.proc import run_tool

SKOPEO = "skopeo"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("archive", type=Path, help="what build wrote: NAME.oci.tar (several --arch) or NAME.tar")
    parser.add_argument("reference", metavar="REGISTRY/NAME:TAG", help="where to push, e.g. 127.0.0.1:5000/dfs:latest")
    parser.add_argument("--insecure", action="store_true",
                        help="plain HTTP or an unverified certificate (a test registry)")
    parser.add_argument("--authfile", type=Path,
                        help="registry credentials (skopeo's auth.json); default: skopeo's")  # fmt: skip


def source_transport(archive: Path) -> str:
    """``oci-archive:`` when the archive's index names an image index, else ``docker-archive:``."""
    if not archive.is_file():
        raise BuildError(f"{archive}: no such archive", hint="build it first: docker-from-scratch build")
    try:
        with tarfile.open(archive) as tar:
            names = set(tar.getnames())
    except tarfile.TarError as exc:
        raise BuildError(f"{archive} is not a tar archive: {exc}", hint="give what build wrote") from None
    if "manifest.json" in names:
        return f"docker-archive:{archive}"
    if "index.json" in names:
        return f"oci-archive:{archive}"
    raise BuildError(f"{archive} holds neither manifest.json nor index.json", hint="give what build wrote")


def skopeo_argv(archive: Path, reference: str, *, insecure: bool = False, authfile: Path | None = None) -> list[str]:
    if "://" in reference:
        raise BuildError(f"{reference!r}: give REGISTRY/NAME:TAG without a scheme", hint="e.g. 127.0.0.1:5000/dfs:1")
    argv = [SKOPEO, "copy", "--all", "--quiet"]
    if insecure:
        argv.append("--dest-tls-verify=false")
    if authfile is not None:
        argv += ["--dest-authfile", str(authfile)]
    return [*argv, source_transport(archive), f"docker://{reference}"]


def push(archive: Path, reference: str, *, insecure: bool = False, authfile: Path | None = None) -> None:
    if shutil.which(SKOPEO) is None:
        raise BuildError("skopeo is missing on the build host", hint="apt-get install skopeo")
    argv = skopeo_argv(archive, reference, insecure=insecure, authfile=authfile)
    run_tool(argv, hint="check the registry address, --insecure for plain HTTP, and the credentials")


def run(args: argparse.Namespace) -> int:
    push(args.archive, args.reference, insecure=args.insecure, authfile=args.authfile)
    print(f"pushed {args.archive} to {args.reference}")
    return 0
