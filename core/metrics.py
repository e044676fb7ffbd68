"""Prometheus metrics shared by the processes of Modelgate.

gunicorn runs several worker processes and Celery forks its own, so the
metrics use prometheus_client's multiprocess mode when
``PROMETHEUS_MULTIPROC_DIR`` is set (``make run``, docker-compose and the
gunicorn config set it); values from every process are merged at scrape time.
Without it (tests, a single process) the default registry is used.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

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
