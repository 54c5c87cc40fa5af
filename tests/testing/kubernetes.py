"""deploy/kubernetes rendered with kubectl's kustomize, and checked against Kubernetes' schemas."""

import copy
import os
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml
from kubernetes_validate import utils as validate_utils

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
OVERLAYS = ("arc", "gitlab", "standalone")
# Our image's name in the manifests; `kustomize edit set image` or `images:` changes it.
IMAGE = "docker-from-scratch:latest"


def render(overlay: str, deploy: Path = DEPLOY) -> list[dict[str, Any]]:
    """`kubectl kustomize` of one overlay: the documents an operator would apply (a fresh copy)."""
    return copy.deepcopy(_render(overlay, deploy))


@cache
def _render(overlay: str, deploy: Path) -> list[dict[str, Any]]:
    # kubectl takes about a second per render here; a session renders each tree once.
    result = subprocess.run(
        ["kubectl", "kustomize", os.fspath(deploy / "overlays" / overlay)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise AssertionError(f"kubectl kustomize {overlay} failed: {result.stderr.strip()}")
    return [document for document in yaml.safe_load_all(result.stdout) if document]


@cache
def newest_versions(count: int = 3) -> tuple[str, ...]:
    """The ``count`` newest minor versions the validator has schemas for, newest last."""
    minors = {tuple(int(part) for part in version.split(".")[:2]) for version in validate_utils.all_versions()}
    return tuple(f"{major}.{minor}" for major, minor in sorted(minors)[-count:])


def validate(document: dict[str, Any], version: str) -> None:
    """Raise ValidationError when ``document`` breaks the strict schema of ``version``.

    Strict: a field the schema does not know (a typo) is an error too, as `kubectl apply
    --validate=strict` makes it.
    """
    kubernetes_validate.validate(document, version, strict=True)


def find(documents: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    """The one document of ``kind`` (and ``name``)."""
    matches = [d for d in documents if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    if len(matches) != 1:
        raise AssertionError(f"expected one {kind} {name or ''}, found {len(matches)}")
    return matches[0]


def pod_spec(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """The pod spec of the case: a Pod's spec, or a StatefulSet's template."""
    for document in documents:
        if document["kind"] == "Pod":
            return dict(document["spec"])
        if document["kind"] == "StatefulSet":
            return dict(document["spec"]["template"]["spec"])
    raise AssertionError("no Pod or StatefulSet in the rendered documents")


def container(spec: dict[str, Any], name: str) -> dict[str, Any]:
    """A container of the pod spec by name, init containers included."""
    for item in [*spec.get("initContainers", []), *spec["containers"]]:
        if item["name"] == name:
            return dict(item)
    raise AssertionError(f"no container {name}")
