"""Celery queues per app: governance, monitoring and serving-adjacent jobs go
to their own queues, so with a worker pool per queue a long drift report
cannot delay a governance apply (real workers over real Redis)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest


def _queue(app, name: str) -> str:
    return app.amqp.router.route({}, name)["queue"].name


def test_each_app_has_its_queue_and_a_plain_worker_consumes_them_all():
    from config.celery_app import app

    assert _queue(app, "governance.tasks.promotion_apply") == "governance"
    assert _queue(app, "governance.tasks.registry_reconcile") == "governance"
    assert _queue(app, "monitoring.tasks.report_run") == "monitoring"
    assert _queue(app, "inference.tasks.batch_score") == "serving"
    assert _queue(app, "trainer.tasks.retraining_run_task") == "training"
    # quick jobs of the trainer do not wait behind a run
    assert _queue(app, "trainer.tasks.retraining_tick") == "celery"
    assert _queue(app, "celery.ping") == "celery"
    # a worker started without -Q (make run, the Procfile) consumes these
    queues = {"celery", "governance", "monitoring", "serving", "training"}
    assert queues <= set(app.amqp.queues)


ROOT = Path(__file__).resolve().parents[2]


def _wait(predicate, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def _spawn(queue: str, env: dict, log: Path) -> subprocess.Popen:
    handle = open(log, "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo",
         "--without-mingle", "--without-gossip", "--without-heartbeat",
         "-Q", queue, "--loglevel", "INFO", "-n", f"{queue}@%h"],
        cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
    )  # fmt: skip


@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_apply_enqueued_behind_a_slow_report_completes_first(
    redis_url, settings, tmp_path
):
    from config.celery_app import app
    from governance.tasks import promotion_apply_task
    from monitoring.tasks import report_run

    # given a worker pool per queue (private queue names on the test Redis)
    # whose report job runs until released (tests/core/queue_worker_settings)
    suffix = uuid.uuid4().hex[:8]
    queues = {
        "governance": f"mg-test-governance-{suffix}",
        "monitoring": f"mg-test-monitoring-{suffix}",
    }
    settings.CELERY_QUEUES_BY_APP = queues
    marks = tmp_path / "marks"
    marks.mkdir()
    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.core.queue_worker_settings",
        "DATABASE_URL": f"postgres://{auth}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": redis_url,
        "MG_QUEUE_GOVERNANCE": queues["governance"],
        "MG_QUEUE_MONITORING": queues["monitoring"],
        "MG_QUEUE_MARKS": str(marks),
        "DO_NOT_TRACK": "1",
    }
    saved = {k: app.conf[k] for k in ("broker_url", "task_always_eager")}
    app.conf.update(task_always_eager=False, broker_url=redis_url)
    app._pool = None
    app.amqp._producer_pool = None
    workers = [
        _spawn(queue, env, tmp_path / f"{name}.log") for name, queue in queues.items()
    ]
    try:
        # when a report is running and an apply is enqueued after it
        report_run.delay(1)
        _wait(lambda: (marks / "report-started").exists())
        promotion_apply_task.delay(request_id=1)
        # then the apply completes while the report still runs
        _wait(lambda: (marks / "governance.tasks.promotion_apply-finished").exists())
        assert not (marks / "monitoring.tasks.report_run-finished").exists()
        (marks / "release").touch()
        _wait(lambda: (marks / "monitoring.tasks.report_run-finished").exists())
    finally:
        (marks / "release").touch()
        for process in workers:
            process.send_signal(signal.SIGTERM)
        for process in workers:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        app.conf.update(saved)
        app._pool = None
        app.amqp._producer_pool = None
        import redis

        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(f"*{suffix}*"):
            client.delete(key)
