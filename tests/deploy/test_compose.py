"""docker-compose.yml, the Dockerfile and .dockerignore, read as files: the
faults a first real start found stay fixed (make compose-check runs them)."""

from __future__ import annotations

import fnmatch
import re

import pytest
import yaml

from tests.deploy.kube import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP = ("migrate", "web", "worker", "stream", "beat")
SECRETS = (
    "DJANGO_SECRET_KEY",
    "POSTGRES_PASSWORD",
    "MLFLOW_SERVICE_PASSWORD",
    "MLFLOW_FLASK_SECRET_KEY",
    "MONITORING_METRICS_TOKEN",
)


def _command(service: str) -> str:
    command = SERVICES[service].get("command", "")
    return " ".join(command) if isinstance(command, list) else command


def _healthcheck(service: str) -> str:
    return " ".join(SERVICES[service]["healthcheck"]["test"])


def test_worker_healthcheck_pings_the_name_the_worker_has():
    # given: a worker started without --hostname is celery@<host>, and a ping
    # of worker@<host> never answers
    assert re.search(r"--hostname worker@%h\b", _command("worker"))
    # and the name is the container's host name (podman sets no $HOSTNAME
    # in a healthcheck's shell: `worker@` alone answered "No nodes replied")
    assert "-d worker@$$(hostname)" in _healthcheck("worker")


@pytest.mark.parametrize("service", ["web", "worker", "stream", "beat"])
def test_every_process_group_merges_its_metrics(service):
    folder = SERVICES[service]["environment"].get("PROMETHEUS_MULTIPROC_DIR")
    assert folder, "one random gunicorn worker's counters at /metrics"
    tmpfs = [m.split(":")[0] for m in SERVICES[service].get("tmpfs", [])]
    assert folder in tmpfs  # per container: process ids must not clash


@pytest.mark.parametrize("service", ["worker", "stream"])
def test_worker_and_stream_serve_their_own_metrics(service):
    assert SERVICES[service]["environment"]["MONITORING_METRICS_PORT"] == "9100"


def test_a_worker_pool_per_queue_and_governance_apart_from_reports():
    from tests.deploy.invariants import LONG_QUEUES, QUEUES, worker_queues

    pools = {
        name: worker_queues(SERVICES[name]["command"])
        for name in SERVICES
        if isinstance(SERVICES[name].get("command"), list)
        and worker_queues(SERVICES[name]["command"]) is not None
    }
    assert set(pools) == {
        "worker",
        "worker-monitoring",
        "worker-serving",
        "worker-training",
    }
    assert set().union(*pools.values()) == QUEUES
    assert not any("governance" in q and q & LONG_QUEUES for q in pools.values())
    for name in pools:  # each pool answers its healthcheck and serves metrics
        assert "-d worker@$$(hostname)" in _healthcheck(name)
        assert SERVICES[name]["environment"]["MONITORING_METRICS_PORT"] == "9100"


def test_no_service_publishes_beyond_loopback():
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port}"
    # the host's own PostgreSQL and Redis hold these ports
    assert "ports" not in SERVICES["postgres"] and "ports" not in SERVICES["redis"]


def test_no_service_runs_as_root():
    for name, service in SERVICES.items():
        assert service.get("user") in (None, "10001", "10001:10001"), name
    assert re.search(r"^USER 10001", (ROOT / "Dockerfile").read_text(), re.M)


def test_exactly_one_beat():
    beats = [n for n in SERVICES if " beat " in f" {_command(n)} "]
    assert beats == ["beat"]
    assert SERVICES["beat"]["deploy"]["replicas"] == 1


def test_secrets_come_only_from_the_env_file():
    text = (ROOT / "docker-compose.yml").read_text()
    example = (ROOT / ".env.example").read_text()
    for name in SECRETS:
        uses = re.findall(r"\$\{" + name + r"(:[?-][^}]*)?\}", text)
        assert uses and all(u.startswith(":?") for u in uses), f"{name} has a default"
        assert re.search(rf"^(# )?{name}=", example, re.M), f"{name} undocumented"


def test_https_settings_on_by_default():
    env = SERVICES["web"]["environment"]
    assert env["DJANGO_SECURE_SSL_REDIRECT"].endswith(":-true}")
    assert env["DJANGO_SETTINGS_MODULE"] == "config.settings.production"


def test_static_files_live_in_the_image_not_in_a_volume():
    dockerfile = (ROOT / "Dockerfile").read_text()
    static_root = re.search(r"DJANGO_STATIC_ROOT=(\S+)", dockerfile).group(1)
    assert "collectstatic" in dockerfile
    for name in APP:
        for volume in SERVICES[name].get("volumes", []):
            target = volume.split(":")[1]
            assert not static_root.startswith(target), (
                f"{name} mounts over {static_root}"
            )


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or a parent decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    decision = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern.lstrip("!").rstrip("/")
        regex = (
            fnmatch.translate(body).replace(".*", "[^/]*").replace("[^/]*[^/]*", ".*")
        )
        if any(re.fullmatch(regex, c) for c in candidates):
            decision = not negate
    return decision


@pytest.mark.parametrize(
    ("path", "ignored"),
    [
        (".git/HEAD", True),
        (".env", True),
        ("var/db.sqlite3", True),
        ("var/demo-credentials.txt", True),
        (".venv/bin/python", True),
        ("tests/conftest.py", True),
        ("core/__pycache__/x.cpython-311.pyc", True),
        ("config/settings/base.py", False),
        ("static/css/modelgate.css", False),
        ("templates/base.html", False),
        ("data/sms_spam/SMSSpamCollection", False),
        ("manage.py", False),
    ],
)
def test_dockerignore_keeps_local_state_and_secrets_out(path, ignored):
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    assert _ignored(path, patterns) is ignored


def test_mlflow_accepts_the_host_name_the_other_containers_use():
    # MLflow 3 answers 403 "Invalid Host header" to a name outside its list
    uri = SERVICES["web"]["environment"]["MLFLOW_TRACKING_URI"]
    host = uri.split("//", 1)[1].rstrip("/")
    script = (ROOT / "docker" / "mlflow-server.sh").read_text()
    default = re.search(r"MLFLOW_ALLOWED_HOSTS:-([^}]+)\}", script).group(1)
    assert host in default.split(",")
