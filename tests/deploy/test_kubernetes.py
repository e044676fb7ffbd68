"""The Kubernetes overlays: each renders offline, validates against the
Kubernetes OpenAPI schemas, passes the policy scan without a high finding
and keeps the deployment's invariants; each invariant check fails when its
promise is broken."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest

from tests.deploy import invariants
from tests.deploy.kube import KUBERNETES_VERSION, OVERLAYS, find, pod_spec, render
from tests.deploy.policy import HIGH, scan


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_into_its_namespace(overlay):
    objects = render(overlay)
    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "Service", "Job", "Ingress", "NetworkPolicy"} <= kinds
    assert {"HorizontalPodAutoscaler", "PodDisruptionBudget", "ConfigMap"} <= kinds
    namespaces = {o["metadata"].get("namespace") for o in objects}
    assert namespaces == {
        "modelgate" if overlay == "production" else f"modelgate-{overlay}"
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_validates_against_the_openapi_schemas(overlay):
    errors = []
    for obj in render(overlay):
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message}")
    assert errors == []


def test_schema_validation_refuses_an_unknown_field():
    web = find(render("staging"), "Deployment", "modelgate-web")
    pod_spec(web)["containers"][0]["livenessProbes"] = {}  # a typo
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(web, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_policy_scan_finds_nothing_high(overlay):
    findings = scan(render(overlay))
    assert [f for f in findings if f.severity == HIGH] == []


def test_policy_scan_reports_a_root_privileged_container():
    objects = render("production")
    worker = pod_spec(find(objects, "Deployment", "modelgate-worker"))["containers"][0]
    worker["securityContext"].update(privileged=True, runAsUser=0)
    del worker["resources"]["limits"]
    rules = {f.rule for f in scan(objects) if f.severity == HIGH}
    assert {"CKV_K8S_16", "CKV_K8S_23", "CKV_K8S_10-13"} <= rules


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("check", invariants.ALL, ids=lambda f: f.__name__)
def test_invariant_holds(overlay, check):
    assert check(render(overlay)) == []


def _broken(change):
    objects = copy.deepcopy(render("production"))
    change(objects)
    return objects


def _beat_scaled(objects):
    find(objects, "Deployment", "modelgate-beat")["spec"]["replicas"] = 2


def _beat_rolling(objects):
    find(objects, "Deployment", "modelgate-beat")["spec"]["strategy"] = {
        "type": "RollingUpdate"
    }


def _web_probe_removed(objects):
    del pod_spec(find(objects, "Deployment", "modelgate-web"))["containers"][0][
        "readinessProbe"
    ]


def _worker_as_root(objects):
    container = pod_spec(find(objects, "Deployment", "modelgate-worker"))["containers"][
        0
    ]
    container["securityContext"]["runAsUser"] = 0


def _one_pool_for_all_queues(objects):
    container = pod_spec(find(objects, "Deployment", "modelgate-worker"))["containers"][
        0
    ]
    at = container["command"].index("--queues")
    del container["command"][at : at + 2]


def _no_serving_pool(objects):
    objects.remove(find(objects, "Deployment", "modelgate-worker-serving"))


def _mlflow_unlimited(objects):
    container = pod_spec(find(objects, "Deployment", "modelgate-mlflow"))["containers"][
        0
    ]
    container["resources"].pop("limits")


def _web_skips_migrations(objects):
    pod_spec(find(objects, "Deployment", "modelgate-web")).pop("initContainers")


def _mlflow_exposed(objects):
    policy = find(objects, "NetworkPolicy", "modelgate-mlflow-ingress")
    policy["spec"]["ingress"][0]["from"].append(
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "x"}}}
    )


@pytest.mark.parametrize(
    ("change", "check", "message"),
    [
        (_beat_scaled, invariants.beat_single, "beat has 2 replicas"),
        (_beat_rolling, invariants.beat_single, "not Recreate"),
        (_web_probe_removed, invariants.probes_present, "web has no readinessProbe"),
        (_worker_as_root, invariants.non_root_and_limited, "may run as root"),
        (
            _mlflow_unlimited,
            invariants.non_root_and_limited,
            "no cpu and memory limits",
        ),
        (_web_skips_migrations, invariants.migrations_first, "web pods do not wait"),
        (_mlflow_exposed, invariants.network_locked, "mlflow"),
        (_one_pool_for_all_queues, invariants.worker_pools, "in one pool"),
        (_no_serving_pool, invariants.worker_pools, "the serving queue"),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_invariant_check_fails_when_broken(change, check, message):
    problems = check(_broken(change))
    assert any(message in p for p in problems), problems


def test_the_invariants_know_every_queue_of_the_settings(settings):
    assert (
        set(settings.CELERY_QUEUES_BY_APP.values())
        | {settings.CELERY_TASK_DEFAULT_QUEUE}
        == invariants.QUEUES
    )
