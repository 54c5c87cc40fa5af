"""deploy/kubernetes: every overlay renders and validates; the cases are wired as documented."""

import shutil
import tomllib
from pathlib import Path

import pytest
from kubernetes_validate import ValidationError

from tests.testing.kubernetes import (
    DEPLOY,
    IMAGE,
    OVERLAYS,
    container,
    find,
    newest_versions,
    pod_spec,
    render,
    validate,
)


@pytest.mark.parametrize("version", newest_versions())
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_manifests_validate_against_the_newest_schemas(overlay: str, version: str) -> None:
    """Every rendered document of each overlay should pass the strict schema of the three newest versions."""
    documents = render(overlay)
    assert documents
    for document in documents:
        validate(document, version)


def test_kubernetes_manifests_newest_versions_are_three_minors() -> None:
    """The validator should offer three distinct minor versions, the newest 1.37 or later."""
    versions = newest_versions()
    assert len(set(versions)) == 3
    assert tuple(int(part) for part in versions[-1].split(".")) >= (1, 37)


@pytest.mark.parametrize(
    ("path", "old", "new"),
    [
        (
            "overlays/arc/runner-pod.yaml",
            "      volumeMounts:\n        - name: work",
            "      volumeMount:\n        - name: work",
        ),
        ("overlays/standalone/statefulset.yaml", "replicas: 2", 'replicas: "two"'),
        ("base/dind.yaml", "          periodSeconds: 2", "          periodSecond: 2"),
    ],
    ids=["unknown-field", "wrong-type", "typo-in-base"],
)
def test_kubernetes_manifests_broken_field_fails_validation(tmp_path: Path, path: str, old: str, new: str) -> None:
    """A test copy with one broken field should fail the schema check (the check can fail)."""
    copy = tmp_path / "kubernetes"
    shutil.copytree(DEPLOY, copy)
    target = copy / path
    text = target.read_text()
    assert old in text
    target.write_text(text.replace(old, new, 1))
    overlay = "standalone" if "standalone" in path else "arc"
    with pytest.raises(ValidationError):
        for document in render(overlay, copy):
            validate(document, newest_versions()[-1])


def test_kubernetes_manifests_source_template_is_not_applied() -> None:
    """The base's source PodTemplate should be copied in and left out of every rendered overlay."""
    for overlay in OVERLAYS:
        assert all(document["kind"] != "PodTemplate" for document in render(overlay)), overlay


def test_kubernetes_arc_engine_is_a_native_sidecar_sharing_var_run() -> None:
    """ARC's engine should be an init container with restartPolicy Always, dockerd on the socket for group 123."""
    spec = pod_spec(render("arc"))
    dind = container(spec, "dind")
    assert dind in spec["initContainers"] and dind["restartPolicy"] == "Always"
    assert dind["image"] == IMAGE and dind["securityContext"]["privileged"] is True
    assert dind["args"] == ["dockerd", "--host=unix:///var/run/docker.sock", "--group=123"]
    assert dind["startupProbe"]["exec"]["command"] == ["docker", "info"]
    assert dind["lifecycle"]["preStop"]["exec"]["command"][:2] == ["/usr/bin/dockerlaunch", "--stop-nested"]
    runner = container(spec, "runner")
    assert runner["securityContext"] == {"runAsUser": 1001, "runAsGroup": 123}
    for mount in ({"name": "dind-sock", "mountPath": "/var/run"}, {"name": "work", "mountPath": "/home/runner/_work"}):
        assert mount in dind["volumeMounts"] and mount in runner["volumeMounts"]
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    assert all("emptyDir" in volumes[name] for name in ("dind-sock", "work", "dind-data"))


def test_kubernetes_gitlab_config_toml_matches_the_job_pod() -> None:
    """config.toml's service, job environment and certificate volume should be the ones the job pod runs."""
    documents = render("gitlab")
    config = tomllib.loads(find(documents, "ConfigMap", "gitlab-runner-config")["data"]["config.toml"])
    runner = config["runners"][0]
    kubernetes = runner["kubernetes"]
    assert kubernetes["privileged"] is True
    assert kubernetes["services"] == [{"name": IMAGE, "alias": "docker"}]
    environment = dict(item.split("=", 1) for item in runner["environment"])
    assert environment == {
        "DOCKER_HOST": "tcp://docker:2376", "DOCKER_TLS_CERTDIR": "/certs",
        "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/certs/client",
    }  # fmt: skip
    (certs,) = kubernetes["volumes"]["empty_dir"]
    spec = pod_spec(documents)
    build, dind = container(spec, "build"), container(spec, "dind")
    assert {item["name"]: item["value"] for item in build["env"]} == environment
    for item in (build, dind):
        assert {"name": certs["name"], "mountPath": certs["mount_path"]} in item["volumeMounts"]
    assert dind["image"] == IMAGE
    assert {"ip": "127.0.0.1", "hostnames": ["docker"]} in spec["hostAliases"]


def test_kubernetes_standalone_has_volume_service_budget_and_limits() -> None:
    """The StatefulSet should keep /var/lib/docker on its claim, serve 2376, be ready by --health, with a PDB."""
    documents = render("standalone")
    statefulset = find(documents, "StatefulSet")
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    dind = container(pod_spec(documents), "dind")
    data = [mount for mount in dind["volumeMounts"] if mount["mountPath"] == "/var/lib/docker"]
    assert data == [{"name": claim["metadata"]["name"], "mountPath": "/var/lib/docker", "subPath": "docker"}]
    assert dind["readinessProbe"]["exec"]["command"] == ["/usr/bin/dockerlaunch", "--health"]
    assert dind["resources"]["requests"] and dind["resources"]["limits"]
    service = find(documents, "Service")
    assert service["spec"]["ports"][0]["port"] == 2376
    assert service["spec"]["selector"] == statefulset["spec"]["selector"]["matchLabels"]
    budget = find(documents, "PodDisruptionBudget")
    assert budget["spec"]["selector"] == statefulset["spec"]["selector"]
