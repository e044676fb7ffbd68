"""Policy checks over rendered Kubernetes objects: the high-severity
workload rules of the common scanners (checkov's CKV_K8S_*, kube-score),
written as pure functions so the suite needs no scanner and its dependency
tree (docs/deploy.md says why). Each finding names its rule and severity."""

from __future__ import annotations

from dataclasses import dataclass

from tests.deploy.kube import containers, pod_spec

HIGH, MEDIUM = "HIGH", "MEDIUM"


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    target: str
    message: str


def _name(obj: dict, container: dict | None = None) -> str:
    base = f"{obj['kind']}/{obj['metadata']['name']}"
    return f"{base}:{container['name']}" if container else base


def scan(objects: list[dict]) -> list[Finding]:
    """Every finding of every rule over ``objects``."""
    found: list[Finding] = []
    for obj in objects:
        found += _object_rules(obj)
        spec = pod_spec(obj)
        if spec is not None:
            found += _pod_rules(obj, spec)
            for container in containers(spec):
                found += _container_rules(obj, spec, container)
    return found


def _object_rules(obj: dict) -> list[Finding]:
    out = []
    if obj["metadata"].get("namespace") in (None, "default"):
        out.append(Finding("CKV_K8S_21", MEDIUM, _name(obj), "default namespace"))
    if obj["kind"] == "Secret" and (obj.get("data") or obj.get("stringData")):
        out.append(Finding("SECRET_VALUE", HIGH, _name(obj), "secret value committed"))
    return out


def _pod_rules(obj: dict, spec: dict) -> list[Finding]:
    out = []
    name = _name(obj)
    for key, rule in (("hostPID", "CKV_K8S_17"), ("hostIPC", "CKV_K8S_18"),
                      ("hostNetwork", "CKV_K8S_19")):  # fmt: skip
        if spec.get(key):
            out.append(Finding(rule, HIGH, name, f"{key} shares the node's namespace"))
    if spec.get("automountServiceAccountToken") is not False:
        out.append(Finding("CKV_K8S_38", MEDIUM, name, "service account token mounted"))
    for volume in spec.get("volumes", []):
        if "hostPath" in volume:
            out.append(
                Finding("HOST_PATH", HIGH, name, f"hostPath volume {volume['name']}")
            )
    seccomp = (spec.get("securityContext") or {}).get("seccompProfile", {})
    if seccomp.get("type") not in ("RuntimeDefault", "Localhost"):
        out.append(Finding("CKV_K8S_31", MEDIUM, name, "no seccomp profile"))
    return out


def _run_as(spec: dict, container: dict, key: str):
    own = (container.get("securityContext") or {}).get(key)
    return own if own is not None else (spec.get("securityContext") or {}).get(key)


def _container_rules(obj: dict, spec: dict, container: dict) -> list[Finding]:
    out = []
    name = _name(obj, container)
    context = container.get("securityContext") or {}
    if context.get("privileged"):
        out.append(Finding("CKV_K8S_16", HIGH, name, "privileged container"))
    if context.get("allowPrivilegeEscalation") is not False:
        out.append(Finding("CKV_K8S_20", HIGH, name, "privilege escalation allowed"))
    if context.get("readOnlyRootFilesystem") is not True:
        out.append(Finding("CKV_K8S_22", HIGH, name, "writable root filesystem"))
    user = _run_as(spec, container, "runAsUser")
    if _run_as(spec, container, "runAsNonRoot") is not True or user in (None, 0):
        out.append(Finding("CKV_K8S_23", HIGH, name, "may run as root"))
    drop = (context.get("capabilities") or {}).get("drop") or []
    if "ALL" not in drop:
        out.append(Finding("CKV_K8S_28", HIGH, name, "capabilities not dropped"))
    if (context.get("capabilities") or {}).get("add"):
        out.append(Finding("CKV_K8S_25", HIGH, name, "capabilities added"))
    resources = container.get("resources") or {}
    for kind in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            if not (resources.get(kind) or {}).get(resource):
                out.append(
                    Finding("CKV_K8S_10-13", HIGH, name, f"no {resource} {kind}")
                )
    image = container.get("image", "")
    if ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"):
        out.append(
            Finding("CKV_K8S_14", HIGH, name, f"image {image!r} has no fixed tag")
        )
    is_init = container in spec.get("initContainers", [])
    if not is_init and obj["kind"] != "Job":
        for probe, rule in (
            ("livenessProbe", "CKV_K8S_8"),
            ("readinessProbe", "CKV_K8S_9"),
        ):
            if probe not in container:
                out.append(Finding(rule, MEDIUM, name, f"no {probe}"))
    for env in container.get("env", []):
        if env.get("value") and any(
            w in env["name"] for w in ("SECRET", "PASSWORD", "TOKEN")
        ):
            out.append(Finding("SECRET_VALUE", HIGH, name, f"{env['name']} set inline"))
    return out
