"""Readiness probes of the service's dependencies (database, broker, MLflow)."""

from __future__ import annotations

import logging
import time
import urllib.request
from pathlib import Path

from django.conf import settings
from django.db import connection

from core.broker import broker_is_filesystem

logger = logging.getLogger(__name__)

PROBE_TIMEOUT_SECONDS = 2.0


def check_database() -> str | None:
    """None when the database answers, else the reason."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def check_broker() -> str | None:
    url = settings.CELERY_BROKER_URL
    if broker_is_filesystem():
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        return None if folder.is_dir() else f"broker folder {folder} is missing"
    if url.startswith(("redis://", "rediss://")):
        import redis

        try:
            redis.Redis.from_url(
                url,
                socket_timeout=PROBE_TIMEOUT_SECONDS,
                socket_connect_timeout=PROBE_TIMEOUT_SECONDS,
            ).ping()
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
        return None
    return None  # other transports: not probed


def check_mlflow() -> str | None:
    uri = settings.MLFLOW_TRACKING_URI
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        return None if path.exists() else f"MLflow store {path} does not exist yet"
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(  # noqa: S310 - the configured tracking server
                uri.rstrip("/") + "/health", timeout=PROBE_TIMEOUT_SECONDS
            ) as response:
                return None if response.status == 200 else f"HTTP {response.status}"
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
    return None


def readiness() -> dict[str, dict]:
    """Run every probe; each entry says ok/down, the error and the time taken."""
    out = {}
    for name, probe in (
        ("database", check_database),
        ("broker", check_broker),
        ("mlflow", check_mlflow),
    ):
        started = time.perf_counter()
        error = probe()
        out[name] = {
            "status": "ok" if error is None else "down",
            "ms": round((time.perf_counter() - started) * 1000, 1),
        }
        if error:
            out[name]["error"] = error
            logger.warning("readiness: %s is down: %s", name, error)
    return out
