"""The deployment's own promises, checked on rendered objects; each function
returns the problems it finds (empty: the promise holds)."""

from __future__ import annotations

from tests.deploy.kube import containers, find, pod_spec

APP_SECRETS = {"modelgate-secrets", "modelgate-mlflow-secrets"}


def _deployment(objects, component):
    return find(objects, "Deployment", f"modelgate-{component}")


def _main(obj):
    return pod_spec(obj)["containers"][0]


def beat_single(objects) -> list[str]:
    beat = _deployment(objects, "beat")
    problems = []
    if beat["spec"].get("replicas") != 1:
        problems.append(f"beat has {beat['spec'].get('replicas')} replicas, not 1")
    if beat["spec"].get("strategy", {}).get("type") != "Recreate":
        problems.append("beat's strategy is not Recreate (a rollout would run two)")
    for hpa in (o for o in objects if o["kind"] == "HorizontalPodAutoscaler"):
        if hpa["spec"]["scaleTargetRef"]["name"] == beat["metadata"]["name"]:
            problems.append("an autoscaler scales beat")
    beats = [
        o["metadata"]["name"]
        for o in objects
        if pod_spec(o) is not None
        and any("beat" in c.get("command", []) for c in pod_spec(o)["containers"])
    ]
    if beats != [beat["metadata"]["name"]]:
        problems.append(f"beat runs in {beats}")
    return problems


def probes_present(objects) -> list[str]:
    wanted = {
        "web": ("startupProbe", "readinessProbe", "livenessProbe"),
        "worker": ("livenessProbe",),
        "stream": ("livenessProbe", "readinessProbe"),
        "mlflow": ("readinessProbe", "livenessProbe"),
    }
    problems = []
    for component, probes in wanted.items():
        container = _main(_deployment(objects, component))
        problems += [f"{component} has no {p}" for p in probes if p not in container]
    web = _main(_deployment(objects, "web"))
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        path = web.get(probe, {}).get("httpGet", {}).get("path", "")
        if probe in web and not path.startswith("/health/"):
            problems.append(f"web's {probe} is not on a health endpoint ({path})")
    return problems


def non_root_and_limited(objects) -> list[str]:
    problems = []
    for obj in objects:
        spec = pod_spec(obj)
        if spec is None:
            continue
        pod = spec.get("securityContext") or {}
        for container in containers(spec):
            own = container.get("securityContext") or {}
            where = f"{obj['metadata']['name']}:{container['name']}"
            user = own.get("runAsUser", pod.get("runAsUser"))
            if own.get("runAsNonRoot", pod.get("runAsNonRoot")) is not True or not user:
                problems.append(f"{where} may run as root")
            if own.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where} has a writable root filesystem")
            limits = (container.get("resources") or {}).get("limits") or {}
            if not {"cpu", "memory"} <= set(limits):
                problems.append(f"{where} has no cpu and memory limits")
    return problems


def web_scaling(objects) -> list[str]:
    problems = []
    hpa = find(objects, "HorizontalPodAutoscaler", "modelgate-web")
    if hpa["spec"]["scaleTargetRef"]["name"] != "modelgate-web":
        problems.append("the autoscaler does not scale web")
    if "replicas" in _deployment(objects, "web")["spec"]:
        problems.append("web sets replicas: every apply would reset the autoscaler's")
    pdb = find(objects, "PodDisruptionBudget", "modelgate-web")
    selector = pdb["spec"]["selector"]["matchLabels"]
    if selector.get("app.kubernetes.io/component") != "web":
        problems.append("the disruption budget does not select web")
    return problems


def migrations_first(objects) -> list[str]:
    problems = []
    job = find(objects, "Job", "modelgate-migrate")
    if "migrate" not in " ".join(_main(job)["command"]):
        problems.append("the migration Job does not migrate")
    for component in ("web", "worker", "beat", "stream"):
        inits = pod_spec(_deployment(objects, component)).get("initContainers", [])
        if not any("migrate --check" in " ".join(c.get("command", [])) for c in inits):
            problems.append(f"{component} pods do not wait for the migrations")
    return problems


def secrets_referenced_only(objects) -> list[str]:
    problems = [
        f"Secret {o['metadata']['name']} carries values"
        for o in objects
        if o["kind"] == "Secret" and (o.get("data") or o.get("stringData"))
    ]
    for obj in objects:
        spec = pod_spec(obj)
        for container in containers(spec) if spec else []:
            for env in container.get("env", []):
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref and ref["name"] not in APP_SECRETS:
                    problems.append(
                        f"{obj['metadata']['name']} reads Secret {ref['name']}"
                    )
    return problems


def network_locked(objects) -> list[str]:
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    problems = []
    deny = [
        p
        for p in policies
        if p["spec"]["podSelector"] == {}
        and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not (p["spec"].get("ingress") or p["spec"].get("egress"))
    ]
    if not deny:
        problems.append("no default-deny NetworkPolicy")
    outside = set()
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            if any("namespaceSelector" in peer for peer in rule.get("from", [])):
                selector = policy["spec"]["podSelector"]
                labels = selector.get("matchLabels", {})
                values = [
                    v for e in selector.get("matchExpressions", []) for v in e["values"]
                ]
                outside |= {labels.get("app.kubernetes.io/component"), *values}
    # from outside the namespace: web (ingress controller, Prometheus) and the
    # worker's and stream consumer's metrics ports (Prometheus) only
    outside.discard(None)
    if outside - {"web", "worker", "stream"}:
        problems.append(f"reachable from outside the namespace: {sorted(outside)}")
    return problems


ALL = [
    beat_single,
    probes_present,
    non_root_and_limited,
    web_scaling,
    migrations_first,
    secrets_referenced_only,
    network_locked,
]


def mlflow_reachable_by_name(objects) -> list[str]:
    """MLflow 3 refuses a Host header outside MLFLOW_ALLOWED_HOSTS."""
    config = find(objects, "ConfigMap", "modelgate-config")["data"]
    host = config["MLFLOW_TRACKING_URI"].split("//", 1)[1].rstrip("/")
    env = _main(_deployment(objects, "mlflow")).get("env", [])
    allowed = next((e["value"] for e in env if e["name"] == "MLFLOW_ALLOWED_HOSTS"), "")
    return [] if host in allowed.split(",") else [f"MLflow refuses the Host {host}"]


ALL.append(mlflow_reachable_by_name)


#: The Celery queues (config/settings/base.py: CELERY_QUEUES_BY_APP and the
#: default queue).
QUEUES = {"celery", "governance", "monitoring", "serving", "training"}
#: Queues of long jobs (reports, retraining) a governance pool must not share.
LONG_QUEUES = {"monitoring", "training"}


def worker_queues(command: list[str]) -> set[str] | None:
    """The queues a ``celery worker`` command consumes (None: every one)."""
    if "worker" not in command or "celery" not in command[0]:
        return None
    for flag in ("--queues", "-Q"):
        if flag in command:
            return set(command[command.index(flag) + 1].split(","))
    return set(QUEUES)


def worker_pools(objects) -> list[str]:
    """Every queue has a pool, and governance jobs never share a pool with
    the long jobs (monitoring reports, retraining)."""
    pools = {}
    for obj in objects:
        spec = pod_spec(obj)
        if obj["kind"] != "Deployment" or spec is None:
            continue
        queues = worker_queues(spec["containers"][0].get("command", []))
        if queues is not None:
            pools[obj["metadata"]["name"]] = queues
    problems = []
    consumed = set().union(*pools.values()) if pools else set()
    problems += [f"no worker consumes the {q} queue" for q in sorted(QUEUES - consumed)]
    for name, queues in pools.items():
        if "governance" in queues and queues & LONG_QUEUES:
            long_jobs = ", ".join(sorted(queues & LONG_QUEUES))
            problems.append(f"{name} runs governance and {long_jobs} jobs in one pool")
    return problems


ALL.append(worker_pools)
