"""Helpers for tests that run real processes (gunicorn, the stream consumer,
an MLflow server) against this session's test database and MLflow store."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    """URL of the test database this session created (PostgreSQL)."""
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def process_env(tmp: Path, **extra: str) -> dict[str, str]:
    """Environment of a Modelgate process with production settings, pointed at
    the test database and this session's MLflow store."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "MODELGATE_", "INFERENCE_", "GUNICORN_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "DJANGO_SECRET_KEY": "test-" + uuid.uuid4().hex * 2,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DJANGO_LOG_LEVEL": "INFO",
            "DATABASE_URL": database_url(),
            "MLFLOW_TRACKING_URI": settings.MLFLOW_TRACKING_URI,
            "MLFLOW_REGISTRY_URI": settings.MLFLOW_REGISTRY_URI,
            "MLFLOW_REQUEST_TIMEOUT_SECONDS": "3",
            "MLFLOW_REQUEST_MAX_RETRIES": "0",
            "MODELGATE_DATA_DIR": str(tmp / "data"),
            "MODELGATE_MODEL_CACHE_DIR": str(tmp / "model-cache"),
            "MODELGATE_LOG_FORMAT": "text",
            "INFERENCE_ALIAS_POLL_SECONDS": "1",
            "INFERENCE_WARM_MODELS": "sms-spam@production",
            "CELERY_BROKER_URL": "memory://",
            "REDIS_URL": "",
            "DO_NOT_TRACK": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


@dataclass
class Process:
    popen: subprocess.Popen
    log: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def start(args: list[str], env: dict, log: Path) -> Process:
    handle = open(log, "ab")  # noqa: SIM115 - kept open for the child's lifetime
    popen = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT
    )
    return Process(popen, log)


def start_gunicorn(tmp: Path, port: int, workers: int = 2, **extra) -> Process:
    """gunicorn as recommended for serving: threaded workers (group commit of
    the log across a worker's threads, keep-alive connections)."""
    env = process_env(
        tmp,
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS=str(workers),
        GUNICORN_WORKER_CLASS="gthread",
        GUNICORN_THREADS="4",
        GUNICORN_ACCESSLOG="/dev/null",
        **extra,
    )
    proc = start(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--config",
            "config/gunicorn.py",
        ],
        env,
        tmp / f"gunicorn-{port}.log",
    )
    wait_http(port, "/health/live", proc)
    return proc


def wait_http(port: int, path: str, proc: Process | None = None, timeout=90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.popen.poll() is not None:
            raise RuntimeError(f"process exited: {proc.output()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status < 500:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"port {port} did not answer {path} in {timeout}s")


@dataclass
class Result:
    status: int
    body: dict
    request_id: str
    started: float
    finished: float


@dataclass
class Load:
    """Closed-loop load: ``concurrency`` threads with keep-alive connections."""

    port: int
    token: str
    path: str = "/api/v1/models/sms-spam/predict"
    results: list[Result] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)

    def one(self, conn: http.client.HTTPConnection, text: str) -> Result:
        rid = uuid.uuid4().hex
        body = json.dumps({"inputs": [{"message": text}]})
        started = time.monotonic()
        conn.request(
            "POST",
            self.path,
            body,
            {
                "Content-Type": "application/json",
                "Authorization": f"Token {self.token}",
                "X-Request-ID": rid,
            },
        )
        response = conn.getresponse()
        raw = response.read()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = {"raw": raw[:200].decode(errors="replace")}
        return Result(response.status, parsed, rid, started, time.monotonic())

    def _worker(self, count: int | None) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        done = 0
        while not self._stop.is_set() and (count is None or done < count):
            try:
                result = self.one(conn, f"message number {uuid.uuid4().hex[:8]}")
            except (OSError, http.client.HTTPException) as exc:
                result = Result(
                    599, {"error": str(exc)}, "", time.monotonic(), time.monotonic()
                )
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            with self._lock:
                self.results.append(result)
            done += 1
        conn.close()

    def run(self, total: int, concurrency: int) -> list[Result]:
        per = [
            total // concurrency + (i < total % concurrency) for i in range(concurrency)
        ]
        threads = [threading.Thread(target=self._worker, args=(n,)) for n in per]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return self.results

    def start_background(self, concurrency: int) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=self._worker, args=(None,), daemon=True)
            for _ in range(concurrency)
        ]
        for t in threads:
            t.start()
        return threads

    def stop(self, threads) -> None:
        self._stop.set()
        for t in threads:
            t.join(30)
