"""Prometheus metrics shared by the processes of Modelgate.

gunicorn runs several worker processes and Celery forks its own, so the
metrics use prometheus_client's multiprocess mode when
``PROMETHEUS_MULTIPROC_DIR`` is set (``make run``, docker-compose.yml and the
Kubernetes ConfigMap set it); values from every process that writes to that
folder are merged at scrape time. Without it (tests, a single process) the
default registry is used.

A folder is shared only by the processes of one machine or container (process
ids identify the files). Where the Celery worker or the stream consumer runs
in a container of its own, it serves its metrics itself (``serve_metrics``,
``MONITORING_METRICS_PORT``) with the same access rule as the web's /metrics.
"""

from __future__ import annotations

import hmac
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

logger = logging.getLogger(__name__)

LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.075,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

PREDICT_REQUESTS = Counter(
    "modelgate_predict_requests_total",
    "Prediction requests answered, by model, version, interface and HTTP status.",
    ["model", "version", "source", "status"],
)
PREDICTED_ROWS = Counter(
    "modelgate_predicted_rows_total",
    "Rows predicted (and logged), by model, version and interface.",
    ["model", "version", "source"],
)
PREDICT_LATENCY = Histogram(
    "modelgate_predict_latency_seconds",
    "Server time of a prediction request, by model and version.",
    ["model", "version"],
    buckets=LATENCY_BUCKETS,
)
PREDICT_ERRORS = Counter(
    "modelgate_predict_errors_total",
    "Refused or failed prediction requests, by model and error code.",
    ["model", "code"],
)
OUTLIER_ROWS = Counter(
    "modelgate_outlier_rows_total",
    "Predicted rows flagged as outliers, by model and version.",
    ["model", "version"],
)
JOB_DURATION = Histogram(
    "modelgate_job_duration_seconds",
    "Duration of Celery jobs, by task name and outcome.",
    ["task", "outcome"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
)
JOB_FAILURES = Counter(
    "modelgate_job_failures_total",
    "Celery jobs that raised, by task name.",
    ["task"],
)
# The outcome label of JOB_DURATION: one vocabulary for every app's jobs.
JOB_OK = "ok"
JOB_ERROR = "error"
JOB_OUTCOMES = (JOB_OK, JOB_ERROR)


class JobTimer:
    """What ``job_timed`` yields: a job that ended badly without raising (a
    batch job or a report that ended ``failed``) calls ``failed()``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.outcome = JOB_OK

    def failed(self) -> None:
        self.outcome = JOB_ERROR


@contextmanager
def job_timed(name: str) -> Iterator[JobTimer]:
    """Record one run of the job ``name`` in JOB_DURATION (outcome ``ok`` or
    ``error``) and count it in JOB_FAILURES when it raised or was marked
    failed. The one timer of every Celery job."""
    timer = JobTimer(name)
    started = time.perf_counter()
    try:
        yield timer
    except BaseException:
        timer.failed()
        raise
    finally:
        JOB_DURATION.labels(name, timer.outcome).observe(time.perf_counter() - started)
        if timer.outcome == JOB_ERROR:
            JOB_FAILURES.labels(name).inc()


MODEL_EVICTIONS = Counter(
    "modelgate_model_evictions_total",
    "Loaded versions dropped from a process's model cache.",
    ["model", "reason"],
)
MODEL_LOADED = Gauge(
    "modelgate_model_loaded_version",
    "Version currently served for a model and alias in this process.",
    ["model", "alias"],
    multiprocess_mode="livemax",
)


def multiprocess_dir() -> Path | None:
    value = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(value) if value else None


def reset_multiprocess_dir() -> None:
    """Empty the multiprocess folder; call once when the service starts."""
    folder = multiprocess_dir()
    if folder is None:
        return
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)


def mark_process_dead(pid: int) -> None:
    """Drop a dead process's live gauges (gunicorn ``child_exit`` hook)."""
    if multiprocess_dir() is not None:
        _multiprocess.mark_process_dead(pid)


def render_latest(extra: CollectorRegistry | None = None) -> bytes:
    """The exposition text of every process's metrics (plus ``extra`` collectors)."""
    from prometheus_client import REGISTRY

    if multiprocess_dir() is not None:
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)
        text = generate_latest(registry)
    else:
        text = generate_latest(REGISTRY)
    if extra is not None:
        text += generate_latest(extra)
    return text


def scraper_access(*, authorization: str, client_ip: str) -> bool | None:
    """Whether a scraper may read metrics: True for the bearer token of
    ``MONITORING_METRICS_TOKEN`` or an address of ``MONITORING_METRICS_ALLOWED_IPS``,
    False for a wrong token, None when neither decides (no token sent, address
    not listed)."""
    from django.conf import settings

    conf = settings.MONITORING
    token = conf.get("METRICS_TOKEN") or ""
    if authorization.startswith("Bearer "):
        return bool(token) and hmac.compare_digest(authorization[7:].strip(), token)
    if client_ip and client_ip in (conf.get("METRICS_ALLOWED_IPS") or []):
        return True
    return None


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args) -> None:  # scrapes every few seconds: no access log
        pass


def _metrics_app(environ, start_response):
    if environ.get("PATH_INFO") != "/metrics":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"only /metrics here\n"]
    allowed = scraper_access(
        authorization=environ.get("HTTP_AUTHORIZATION", ""),
        client_ip=environ.get("REMOTE_ADDR", ""),
    )
    if allowed is not True:
        headers = [
            ("Content-Type", "text/plain"),
            ("WWW-Authenticate", 'Bearer realm="metrics"'),
        ]
        start_response("401 Unauthorized", headers)
        return [b"metrics need a bearer token\n"]
    body = render_latest()
    start_response(
        "200 OK",
        [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))],
    )
    return [body]


def serve_metrics(port: int, host: str = "0.0.0.0") -> WSGIServer:  # noqa: S104
    """Serve this process group's metrics on ``http://host:port/metrics`` from a
    daemon thread: the Celery worker's main process (its pool processes write
    to the same multiprocess folder) or the stream consumer, where no web
    server runs. Same access rule as /metrics for scrapers: the bearer token
    or a listed address (no sessions here). Returns the running server."""
    server = make_server(host, port, _metrics_app, handler_class=_QuietHandler)
    threading.Thread(
        target=server.serve_forever, name="metrics-exporter", daemon=True
    ).start()
    logger.info("metrics on http://%s:%s/metrics", host, server.server_port)
    return server
