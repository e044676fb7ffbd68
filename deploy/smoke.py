"""The smoke test run against the compose stack: each step checks one
promise over 127.0.0.1 (or inside a container) and returns its figures."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from stack import CheckFailed, Stack

MODEL = "sms-spam"
FAST_TRAINING = [
    "--set", "reference.cv_folds=2",
    "--set", "reference.sample_size=500",
    "--set", "outliers.n_estimators=25",
]  # fmt: skip
MESSAGES = [
    "WINNER!! Claim your prize now, call 09061701461",
    "See you at 7 at the station",
    "URGENT! Your mobile number has won a 2000 bonus caller prize",
    "Can you pick up some milk on the way home?",
    "Free entry in 2 a wkly comp to win FA Cup final tkts",
]
PREDICT_REQUESTS = 40
ROWS_PER_REQUEST = 15  # 600 rows: above a monitor's default minimum for a drift verdict
SETUP = """
import json
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from governance.services.policies import policy_update
users = get_user_model().objects
tokens = {u: Token.objects.get_or_create(user=users.get(username=u))[0].key
          for u in ("alice", "bob", "carol", "dave", "erin", "demo-client")}
policy = policy_update(user=users.get(username="admin"), target="production",
    changes={"min_staging_minutes": 0}, via="compose-check")
print(json.dumps({"tokens": tokens, "policy": [policy.version,
    policy.min_staging_minutes, policy.approvals_required]}))
"""
REPORT_FILE = """
from monitoring.models import Report
r = Report.objects.get(pk={pk})
print("report", r.status, r.html_file.size if r.html_file else 0)
"""
STREAM_EVENT = """
import json, os, time, redis
r = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
event = {"inputs": json.dumps({"message": "WIN a free cruise now"})}
eid = r.xadd("modelgate:predict", event)
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    for rid, fields in r.xrevrange("modelgate:predictions", count=50):
        if fields.get("request_id") == eid:
            print(json.dumps({"event": eid, "result": json.loads(fields["result"])}))
            raise SystemExit(0)
    time.sleep(0.5)
raise SystemExit("no result for " + eid)
"""
WORKER_METRICS = """
import os, urllib.request
req = urllib.request.Request("http://127.0.0.1:9100/metrics",
    headers={"Authorization": "Bearer " + os.environ["MONITORING_METRICS_TOKEN"]})
print(urllib.request.urlopen(req, timeout=10).read().decode())
"""


def wait_for(what: str, fn, *, timeout: float, interval: float = 1.0):
    """Call fn until it returns a truthy value; CheckFailed after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise CheckFailed(f"{what}: not within {timeout:.0f} s (last: {last!r})")


def metric_sum(text: str, name: str, **labels: str) -> float:
    """Sum of a metric's samples whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


@dataclass
class Context:
    stack: Stack
    tokens: dict[str, str] = field(default_factory=dict)
    ok_requests: int = 0
    logged_rows: int = 0
    report_id: int | None = None

    # ------------------------------------------------------------ helpers
    def log_rows(self) -> int:
        return int(self.stack.psql("SELECT count(*) FROM inference_predictionlog"))

    def mlflow(self, path: str, *, auth=True, expect=200) -> dict:
        basic = (
            ("modelgate", self.stack.env["MLFLOW_SERVICE_PASSWORD"]) if auth else None
        )
        return self.stack.json(
            path, port=self.stack.mlflow_port, basic=basic, expect=expect
        )

    def alias(self, alias: str) -> int | None:
        status, raw = self.stack.http(
            f"/api/2.0/mlflow/registered-models/alias?name={MODEL}&alias={alias}",
            port=self.stack.mlflow_port,
            basic=("modelgate", self.stack.env["MLFLOW_SERVICE_PASSWORD"]),
        )
        return (
            int(json.loads(raw)["model_version"]["version"]) if status == 200 else None
        )

    def promote(self, target: str, approvers: list[str]) -> str:
        created = self.stack.json(
            "/api/governance/requests/",
            method="POST",
            token=self.tokens["alice"],
            body={"model": MODEL, "version": 1, "target": target,
                  "justification": f"compose-check: v1 to {target}"},
            expect=201,
        )  # fmt: skip
        path = f"/api/governance/requests/{created['id']}/"

        def get():
            return self.stack.json(path, token=self.tokens["alice"])

        checks = wait_for(
            f"checks of request #{created['id']}",
            lambda: (r := get())["checks_status"] not in ("pending", "running") and r,
            timeout=180,
        )
        if checks["checks_status"] != "passed":
            failed = [
                c
                for c in checks["evidence"].get("checks", [])
                if c["outcome"] == "failed"
            ]
            raise CheckFailed(
                f"checks of #{created['id']}: {checks['checks_status']} {failed}"
            )
        for user in approvers:
            self.stack.json(
                f"{path}approve/", method="POST", token=self.tokens[user],
                body={"comment": "compose-check"}, expect=(200, 201, 202),
            )  # fmt: skip
        done = wait_for(
            f"apply of request #{created['id']}",
            lambda: (
                (r := get())["status"] in ("applied", "apply_failed", "rejected") and r
            ),
            timeout=180,
        )
        if done["status"] != "applied":
            raise CheckFailed(
                f"request #{created['id']} ended {done['status']}: "
                f"{done['apply_error']}"
            )
        version = self.alias(target)
        if version != 1:
            raise CheckFailed(f"MLflow alias {target} is {version}, expected 1")
        return (
            f"request #{created['id']} v1 -> {target}: checks passed, approved by "
            f"{', '.join(approvers)}, applied; MLflow {MODEL}@{target} = v{version}"
        )

    def persisted(self) -> dict:
        """What must survive a restart: the log, the registry, artifacts, reports."""
        uri = self.mlflow(
            f"/api/2.0/mlflow/model-versions/get-download-uri?name={MODEL}&version=1"
        )
        path = uri["artifact_uri"].split("mlflow-artifacts:/", 1)[-1].lstrip("/")
        listing = self.mlflow(f"/api/2.0/mlflow-artifacts/artifacts?path={path}")
        out = self.stack.manage("shell", "-c", REPORT_FILE.format(pk=self.report_id))
        report = out.splitlines()[-1].split()[1:]  # after the shell's import notes
        return {
            "log rows": self.log_rows(),
            f"{MODEL}@production": self.alias("production"),
            "model artifacts": len(listing.get("files", [])),
            f"report #{self.report_id}": f"{report[0]}, HTML {report[1]} bytes",
        }

    def static_served(self, marker: str) -> str:
        status, page = self.stack.http("/accounts/login/")
        if status != 200:
            raise CheckFailed(
                f"login page after upgrade: HTTP {status}: {page[:300]!r}"
            )
        found = re.search(rb'href="(/static/css/modelgate[^"]*\.css)"', page)
        if not found:
            raise CheckFailed("login page links no modelgate CSS")
        url = found.group(1).decode()
        status, css = self.stack.http(url)
        if status != 200 or marker.encode() not in css:
            raise CheckFailed(
                f"{url}: HTTP {status}, new content present: {marker.encode() in css}"
            )
        return f"login page 200, {url} 200 with the new content ({len(css)} bytes)"


# --------------------------------------------------------------- the steps
def ready(ctx: Context) -> str:
    body = ctx.stack.json("/health/ready")
    checks = body["checks"]
    down = {k: v for k, v in checks.items() if v["status"] != "ok"}
    if (
        body["status"] != "ok"
        or down
        or set(checks) != {"database", "broker", "mlflow"}
    ):
        raise CheckFailed(f"/health/ready: {body}")
    return "/health/ready: " + ", ".join(
        f"{k} ok {v['ms']} ms" for k, v in checks.items()
    )


def seed(ctx: Context) -> str:
    ctx.stack.manage("seed_demo")
    # the last line: Django's shell first reports its automatic imports
    out = json.loads(ctx.stack.manage("shell", "-c", SETUP).splitlines()[-1])
    ctx.tokens.update(out["tokens"])
    version, minutes, approvals = out["policy"]
    return (
        f"seed_demo: 8 users; {len(ctx.tokens)} API tokens; production policy "
        f"v{version}: min staging {minutes} min, {approvals} approvals "
        "(manage.py shell, policy_update)"
    )


def train(ctx: Context) -> str:
    status, _ = ctx.stack.http(
        f"/api/2.0/mlflow/registered-models/get?name={MODEL}",
        port=ctx.stack.mlflow_port,
    )
    if status != 401:
        raise CheckFailed(f"MLflow without credentials answered {status}, expected 401")
    began = time.monotonic()
    ctx.stack.manage("train", "--config", "params.yaml", *FAST_TRAINING, timeout=1200)
    seconds = time.monotonic() - began
    model = ctx.mlflow(f"/api/2.0/mlflow/registered-models/get?name={MODEL}")
    versions = [
        v["version"] for v in model["registered_model"].get("latest_versions", [])
    ]
    if "1" not in versions:
        raise CheckFailed(f"{MODEL} versions in MLflow: {versions}")
    ctx.stack.manage(
        "seed_monitors", "--model", MODEL, "--recipients", "ops@example.com"
    )
    deliveries = wait_for(
        "MLflow's webhook deliveries to web",
        lambda: int(ctx.stack.psql("SELECT count(*) FROM governance_webhookdelivery")),
        timeout=60,
        interval=2,
    )
    return (
        f"MLflow refuses anonymous reads (401); trained and registered {MODEL} v1 in "
        f"{seconds:.0f} s through basic-auth; {deliveries} MLflow webhook "
        "deliveries accepted by web; monitor created"
    )


def promote_staging(ctx: Context) -> str:
    return ctx.promote("staging", ["bob"])


def promote_production(ctx: Context) -> str:
    return ctx.promote("production", ["carol", "dave"])


def predict(ctx: Context) -> str:
    path = f"/api/v1/models/{MODEL}/predict"
    token = ctx.tokens["demo-client"]

    def send(rows: int) -> dict | None:
        inputs = [{"message": MESSAGES[i % len(MESSAGES)]} for i in range(rows)]
        status, raw = ctx.stack.http(
            path, method="POST", token=token, body={"inputs": inputs}
        )
        if status == 200:
            ctx.ok_requests += 1
            ctx.logged_rows += rows
            return json.loads(raw)
        if status >= 500 and status != 503:
            raise CheckFailed(f"predict: HTTP {status}: {raw[:300]!r}")
        return None

    before = ctx.log_rows()
    first = wait_for(
        "the production version served", lambda: send(1), timeout=120, interval=2
    )
    if first["model_version"] != 1:
        raise CheckFailed(f"served version {first['model_version']}, expected 1")
    for _ in range(PREDICT_REQUESTS):
        if send(ROWS_PER_REQUEST) is None:
            raise CheckFailed("a prediction request failed once the model was served")
    rows = ctx.log_rows() - before
    if rows != ctx.logged_rows:
        raise CheckFailed(
            f"{rows} log rows in PostgreSQL for {ctx.logged_rows} predicted rows"
        )
    return (
        f"{ctx.ok_requests} requests answered 200 ({ctx.logged_rows} rows, v1); "
        f"{rows} new rows in inference_predictionlog (PostgreSQL)"
    )


def metrics(ctx: Context) -> str:
    token = ctx.stack.env["MONITORING_METRICS_TOKEN"]
    status, _ = ctx.stack.http("/metrics")
    if status != 401:
        raise CheckFailed(f"/metrics without a token answered {status}, expected 401")
    status, raw = ctx.stack.http("/metrics", bearer=token)
    if status != 200:
        raise CheckFailed(f"/metrics: HTTP {status}")
    text = raw.decode()
    served = metric_sum(
        text, "modelgate_predict_requests_total", model=MODEL, status="200"
    )
    rows = metric_sum(text, "modelgate_predicted_rows_total", model=MODEL)
    if served != ctx.ok_requests or rows != ctx.logged_rows:
        raise CheckFailed(
            f"/metrics counts {served:.0f} requests and {rows:.0f} rows; "
            f"sent {ctx.ok_requests} and {ctx.logged_rows} (workers not aggregated?)"
        )
    return (
        f"/metrics: 401 without the token; modelgate_predict_requests_total = "
        f"{served:.0f} = requests sent, predicted rows {rows:.0f}, over "
        f"{ctx.stack.env['GUNICORN_WORKERS']} gunicorn workers"
    )


def drift_report(ctx: Context) -> str:
    monitors = ctx.stack.json("/api/monitoring/monitors/", token=ctx.tokens["erin"])
    items = monitors["results"] if isinstance(monitors, dict) else monitors
    monitor = next(m for m in items if m["model_name"] == MODEL)
    now = datetime.now(UTC)
    window = {
        "window_start": (now - timedelta(hours=1)).isoformat(),
        "window_end": (now + timedelta(minutes=1)).isoformat(),
    }
    report = ctx.stack.json(
        f"/api/monitoring/monitors/{monitor['id']}/reports/", method="POST",
        token=ctx.tokens["erin"], body=window, expect=(200, 202),
    )  # fmt: skip
    ctx.report_id = report["id"]
    path = f"/api/monitoring/reports/{report['id']}/"
    began = time.monotonic()
    done = wait_for(
        f"report #{report['id']}",
        lambda: (
            (r := ctx.stack.json(path, token=ctx.tokens["erin"]))["status"]
            in ("succeeded", "failed")
            and r
        ),
        timeout=600,
        interval=3,
    )
    if done["status"] != "succeeded":
        raise CheckFailed(f"report #{report['id']} {done['status']}: {done['error']}")
    seconds = time.monotonic() - began

    def mail():
        status, raw = ctx.stack.http("/api/v1/messages", port=ctx.stack.mail_port)
        if status != 200:
            return []
        return [
            m
            for m in json.loads(raw)["messages"]
            if MODEL in m["Subject"]
            and any(t["Address"] == "ops@example.com" for t in m["To"])
        ]

    messages = wait_for(
        "the report e-mail in the SMTP sink", mail, timeout=120, interval=2
    )
    # report jobs run on the monitoring queue's pool
    worker = ctx.stack.exec("worker-monitoring", "python", "-c", WORKER_METRICS)
    jobs = metric_sum(
        worker,
        "modelgate_job_duration_seconds_count",
        task="monitoring.tasks.report_run",
    )
    if jobs < 1:
        raise CheckFailed("the worker's metrics show no report job")
    subjects = "; ".join(f'"{m["Subject"]}"' for m in messages[:3])
    return (
        f"report #{report['id']} succeeded in {seconds:.0f} s on {done['rows']} "
        f"rows, drift share {done['drift_share']}\n"
        f"{len(messages)} e-mail(s) to ops@example.com in the SMTP sink: {subjects}\n"
        f"worker :9100/metrics: {jobs:.0f} report job(s) timed"
    )


def stream(ctx: Context) -> str:
    before = ctx.log_rows()
    began = time.monotonic()
    out = json.loads(ctx.stack.exec("web", "python", "-c", STREAM_EVENT, timeout=120))
    seconds = time.monotonic() - began
    result = out["result"]
    predictions = result.get("predictions") or []
    if not predictions or result.get("model_version") != 1:
        raise CheckFailed(f"stream result: {result}")
    rows = wait_for("the stream's log row", lambda: ctx.log_rows() - before, timeout=30)
    ctx.logged_rows += rows
    return (
        f"event {out['event']} answered in {seconds:.1f} s: {predictions[0]['label']} "
        f"(v{result['model_version']}); {rows} log row"
    )


SMOKE_STEPS = [
    ("readiness: database, broker, MLflow", ready),
    ("seed_demo, API tokens, production policy for the check", seed),
    ("train and register into the compose MLflow (basic-auth)", train),
    ("promote v1 to staging (API, one staging approver)", promote_staging),
    ("promote v1 to production (API, two production approvers)", promote_production),
    ("predictions through the API, log rows counted in PostgreSQL", predict),
    ("/metrics aggregated across the web workers", metrics),
    ("drift report: e-mail in the SMTP sink, job metric on the worker", drift_report),
    ("stream consumer answers an event", stream),
]
