"""Render the Kubernetes overlays with `kubectl kustomize` (offline) and walk
the rendered objects. kubectl is a system package (.ci/run installs Debian's
kubernetes-client); without it these tests fail under
MODELGATE_REQUIRE_SERVICES=1 and are skipped otherwise."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
OVERLAYS = ("staging", "production", "dev")
# the Kubernetes version whose OpenAPI schemas the objects must satisfy
KUBERNETES_VERSION = "1.30"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")


def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        reason = "kubectl is not installed (Debian package kubernetes-client)"
        if os.environ.get("MODELGATE_REQUIRE_SERVICES", "") in ("1", "true", "yes"):
            pytest.fail(f"MODELGATE_REQUIRE_SERVICES=1 and {reason}", pytrace=False)
        pytest.skip(reason)
    return path


@functools.cache
def _render(path: str) -> str:
    done = subprocess.run(
        [kubectl(), "kustomize", path],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"kubectl kustomize {path} failed:\n{done.stderr}", pytrace=False)
    return done.stdout


def render(overlay: str) -> list[dict]:
    """The objects of an overlay, freshly parsed (callers may change them)."""
    text = _render(str(KUBERNETES / "overlays" / overlay))
    return [doc for doc in yaml.safe_load_all(text) if doc]


def find(objects: list[dict], kind: str, name: str) -> dict:
    for obj in objects:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    raise KeyError(f"{kind}/{name} not rendered")


def pod_spec(obj: dict) -> dict | None:
    """The pod template's spec of a workload, else None."""
    if obj["kind"] not in WORKLOAD_KINDS:
        return None
    spec = obj["spec"]
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def containers(spec: dict) -> list[dict]:
    return list(spec.get("initContainers", [])) + list(spec.get("containers", []))
