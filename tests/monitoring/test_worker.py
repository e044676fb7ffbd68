"""Report jobs on a real Celery worker over real Redis (RELIABILITY checks
10, 11, 12): verdicts through the worker, duplicate deliveries, a job that
always crashes, a worker killed mid-job, Redis stopped and restarted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone

from monitoring.calculations.windows import last_complete_window
from monitoring.models import Alert, PerformanceWindow, Report
from monitoring.services import reports as report_services
from tests.monitoring.factories import add_rule, log_rows, make_monitor, window_frame

ROOT = Path(__file__).resolve().parents[2]
# one private queue per test process (Celery caches its queue declarations)
QUEUE = f"mg-test-monitoring-{uuid.uuid4().hex[:8]}"
pytestmark = [pytest.mark.redis, pytest.mark.slow]


def wait_for(predicate, timeout: float = 60, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s")


def _window(hours_ago: int = 1):
    start, end = last_complete_window(timezone.now(), 60)
    shift = timedelta(hours=hours_ago - 1)
    return start - shift, end - shift


def _use_broker(app, url: str) -> None:
    """Point the app's publishers at ``url`` (Celery caches its pools)."""
    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def celery_app_on_redis(redis_url, settings):
    """The project's Celery app publishing to a private queue on the test
    Redis (every task: no routing to the per-app queues)."""
    from config.celery_app import app

    settings.CELERY_QUEUES_BY_APP = {}
    settings.CELERY_QUEUES_BY_TASK = {}
    saved = {
        k: app.conf[k]
        for k in ("broker_url", "task_always_eager", "task_default_queue")
    }
    app.conf.update(task_always_eager=False, task_default_queue=QUEUE)
    _use_broker(app, redis_url)
    yield app
    app.conf.update(saved)
    _use_broker(app, saved["broker_url"])
    import redis

    client = redis.Redis.from_url(redis_url)  # only this test queue's keys
    for key in client.scan_iter(f"*{QUEUE}*"):
        client.delete(key)


@pytest.fixture
def worker(celery_app_on_redis, transactional_db):
    """A real worker (solo pool, in a thread of this process) on the queue."""
    from celery.contrib.testing.worker import start_worker

    with start_worker(
        celery_app_on_redis,
        pool="solo",
        concurrency=1,
        queues=[QUEUE],
        perform_ping_check=False,
        loglevel="WARNING",
        shutdown_timeout=20,
    ) as w:
        yield w


def _digests():
    return [m for m in mail.outbox if "opened" not in m.subject]


def test_worker_flags_drift_and_three_deliveries_store_one_report(
    worker, tabular_reference
):
    from monitoring.tasks import monitor_tick, report_run

    # given a monitor whose last window has drift in two known columns
    monitor = make_monitor("breast-cancer", model_version=1)
    add_rule(monitor, "feature_drifted", column="mean_radius")
    start, end = _window()
    shift = {"mean_radius": 2.0, "worst_area": 2.0}
    log_rows(
        window_frame(tabular_reference, 1500, shift=shift, seed=11),
        model_name="breast-cancer",
        version=1,
        start=start,
        end=end,
    )
    # when beat ticks twice (two beats) and the job is published three times
    monitor_tick.delay(monitor.pk)
    monitor_tick.delay(monitor.pk)
    report = wait_for(lambda: Report.objects.filter(monitor=monitor).first())
    for _ in range(3):
        report_run.delay(report.pk)
    wait_for(
        lambda: (
            Report.objects.filter(pk=report.pk, status="succeeded").exists()
            and Alert.objects.filter(
                monitor=monitor, notified_at__isnull=False
            ).exists()
        )
    )
    time.sleep(1.5)  # let the extra deliveries finish
    # then: one report, flagged exactly in those columns, one digest
    assert Report.objects.filter(monitor=monitor).count() == 1
    report.refresh_from_db()
    assert sorted(report.summary["feature_drift"]["drifted_columns"]) == sorted(shift)
    assert report.attempts == 1
    assert len(_digests()) == 1
    assert len([m for m in mail.outbox if "opened" in m.subject]) == 1


def test_worker_reference_like_window_raises_no_alert(worker, tabular_reference):
    from monitoring.tasks import monitor_tick

    monitor = make_monitor("breast-cancer", model_version=1)
    add_rule(monitor, "drift_share_above", threshold=0.1)
    add_rule(monitor, "feature_drifted", column="prediction")
    start, end = _window()
    log_rows(
        window_frame(tabular_reference, 1500, seed=12),
        model_name="breast-cancer",
        version=1,
        start=start,
        end=end,
    )
    monitor_tick.delay(monitor.pk)
    report = wait_for(
        lambda: Report.objects.filter(monitor=monitor, status="succeeded").first()
    )
    assert report.health == "healthy"
    assert not Alert.objects.filter(monitor=monitor).exists()


def test_worker_label_and_concept_drift_after_feedback_shift(worker, tabular_reference):
    from inference.models import Feedback
    from monitoring.tasks import performance_late_labels

    monitor = make_monitor("breast-cancer", model_version=1)
    (s1, e1), (s2, e2) = _window(2), _window(1)
    calm = window_frame(tabular_reference, 300, seed=13)
    rows = log_rows(
        calm, model_name="breast-cancer", version=1, start=s1, end=e1,
        labels=calm["prediction"].tolist(),
    )  # fmt: skip
    shifted = window_frame(tabular_reference, 300, seed=17)
    labels = ["malignant" if i % 3 else p for i, p in enumerate(shifted["prediction"])]
    log_rows(
        shifted, model_name="breast-cancer", version=1, start=s2, end=e2, labels=labels
    )
    ids = [
        report_services.report_request(monitor=monitor, start=s, end=e)[0].pk
        for s, e in ((s1, e1), (s2, e2))
    ]
    wait_for(lambda: Report.objects.filter(pk__in=ids, status="succeeded").count() == 2)
    calm_report, shifted_report = (Report.objects.get(pk=i) for i in ids)
    assert calm_report.summary["label_drift"]["drifted"] is False
    assert calm_report.health == "healthy"
    assert shifted_report.summary["label_drift"]["drifted"] is True
    assert shifted_report.health == "degraded"
    # late corrections in the first window: its performance is recomputed
    for i, p in enumerate(rows):
        if i % 3:
            Feedback.objects.filter(prediction=p).update(
                label="malignant", updated_at=timezone.now()
            )
    performance_late_labels.delay()
    window = wait_for(
        lambda: PerformanceWindow.objects.filter(
            monitor=monitor, window_start=s1, degraded=True
        ).first()
    )
    assert window.labelled == 300 and not window.provisional


def test_worker_always_crashing_job_ends_failed_after_the_cap(
    worker, monkeypatch, settings
):
    from monitoring.services import compute
    from monitoring.tasks import report_run

    settings.MONITORING = {
        **settings.MONITORING,
        "REPORT_MAX_ATTEMPTS": 3,
        "REPORT_RETRY_SECONDS": 0,
    }
    calls = []

    def crash(**_kwargs):
        calls.append(1)
        raise RuntimeError("boom")

    monkeypatch.setattr(compute, "report_data_compute", crash)
    monitor = make_monitor("breast-cancer", model_version=1)
    start, end = _window()
    report, _ = report_services.report_get_or_create(
        monitor=monitor, start=start, end=end
    )
    report_run.delay(report.pk)  # a second delivery, besides the one on commit
    failed = wait_for(
        lambda: Report.objects.filter(pk=report.pk, status="failed").first()
    )
    time.sleep(1)
    assert failed.attempts == 3 and len(calls) == 3
    assert "boom" in failed.error and "gave up" not in failed.error
    assert len(mail.outbox) == 0


# ------------------------------------------------------ subprocess workers
class SmtpSink:
    """A local SMTP server collecting messages (aiosmtpd)."""

    def __init__(self, port: int) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list = []
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802
                sink.messages.append(envelope.content.decode("utf8", "replace"))
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=port)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()


def _spawn_worker(queue: str, broker: str, smtp_port: int, log: Path):
    db = settings.DATABASES["default"]
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    if db.get("PASSWORD"):
        url = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.monitoring.worker_settings",
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": broker,
        "CELERY_VISIBILITY_TIMEOUT_SECONDS": "5",
        "MG_WORKER_QUEUE": queue,
        "MG_WORKER_MLFLOW_URI": settings.MLFLOW_TRACKING_URI,
        "MG_WORKER_REFERENCE_CACHE": str(settings.MONITORING["REFERENCE_CACHE_DIR"]),
        "MG_WORKER_SMTP_PORT": str(smtp_port),
        "MG_WORKER_MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "DO_NOT_TRACK": "1",
    }
    handle = open(log, "ab")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo",
         "--without-mingle", "--without-gossip", "--without-heartbeat",
         "-Q", queue, "--loglevel", "INFO", "-n", f"{queue}@%h"],
        cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
    )  # fmt: skip
    return process


def _stop(process) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.postgres
def test_worker_killed_mid_job_ends_with_exactly_one_report(
    celery_app_on_redis, transactional_db, tabular_reference, redis_url, tmp_path
):
    queue = celery_app_on_redis.conf.task_default_queue
    monitor = make_monitor("breast-cancer", model_version=1, html_report=True)
    start, end = _window()
    log_rows(
        window_frame(tabular_reference, 3000, shift={"mean_radius": 2.0}, seed=14),
        model_name="breast-cancer",
        version=1,
        start=start,
        end=end,
    )
    log = tmp_path / "worker.log"
    with SmtpSink(5131) as sink:
        first = _spawn_worker(queue, redis_url, 5131, log)
        try:
            report, _ = report_services.report_get_or_create(
                monitor=monitor, start=start, end=end
            )
            # when the job is in its Evidently step, kill -9 the worker
            wait_for(
                lambda: Report.objects.filter(
                    pk=report.pk, progress_message__startswith="writing Evidently"
                ).exists(),
                timeout=90,
            )
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            assert Report.objects.get(pk=report.pk).status == "running"
        finally:
            _stop(first)
        second = _spawn_worker(queue, redis_url, 5131, log)
        try:
            # the dead worker's claim expires (lease 4 s here); beat's recovery
            # task publishes the job again (Redis also gives the unacknowledged
            # message back after its visibility timeout, later)
            wait_for(
                lambda: Report.objects.filter(
                    pk=report.pk, lease_expires_at__lt=timezone.now()
                ).exists(),
                timeout=30,
            )
            assert report_services.reports_recover() == 1
            done = wait_for(
                lambda: Report.objects.filter(pk=report.pk, status="succeeded").first(),
                timeout=120,
                every=0.5,
            )
            wait_for(lambda: sink.messages, timeout=20)
            time.sleep(2)
        finally:
            _stop(second)
    assert Report.objects.filter(monitor=monitor).count() == 1
    assert done.attempts == 2
    assert done.html_file and (Path(settings.MEDIA_ROOT) / done.html_file.name).exists()
    assert len(sink.messages) == 1, log.read_text()[-3000:]
    # the killed delivery would come back later: drop it with the test's queue
    import redis

    client = redis.Redis.from_url(redis_url)
    client.delete(queue)
    for tag, payload in client.hgetall("unacked").items():
        if queue.encode() in payload:  # only this test's deliveries
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)


@pytest.mark.postgres
def test_reports_resume_after_redis_restarts_without_restarting_the_worker(
    celery_app_on_redis, transactional_db, tabular_reference, tmp_path, settings
):
    from core.health import check_broker

    port = 6390
    broker = f"redis://127.0.0.1:{port}/0"

    def redis_start():
        process = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        import redis

        wait_for(lambda: _ping(redis, broker), timeout=10)
        return process

    _use_broker(celery_app_on_redis, broker)
    settings.CELERY_BROKER_URL = broker
    queue = celery_app_on_redis.conf.task_default_queue
    monitor = make_monitor("breast-cancer", model_version=1)
    (s1, e1), (s2, e2) = _window(2), _window(1)
    for (start, end), seed in (((s1, e1), 15), ((s2, e2), 16)):
        log_rows(
            window_frame(tabular_reference, 200, seed=seed),
            model_name="breast-cancer",
            version=1,
            start=start,
            end=end,
        )
    server = redis_start()
    worker = None
    try:
        with SmtpSink(5132):
            worker = _spawn_worker(queue, broker, 5132, tmp_path / "worker.log")
            first, _ = report_services.report_get_or_create(
                monitor=monitor, start=s1, end=e1
            )
            wait_for(
                lambda: Report.objects.filter(pk=first.pk, status="succeeded").exists()
            )
            # Redis goes away while the service runs
            server.terminate()
            server.wait(timeout=10)
            assert check_broker() is not None  # /health/ready reports it
            began = time.monotonic()
            second, created = report_services.report_get_or_create(
                monitor=monitor, start=s2, end=e2
            )
            assert created and time.monotonic() - began < 10  # publish did not hang
            assert Report.objects.get(pk=second.pk).status == "pending"
            # Redis comes back; beat's recovery task publishes the job again
            server = redis_start()
            assert check_broker() is None
            time.sleep(1)
            report_services.reports_recover(now=timezone.now() + timedelta(hours=1))
            wait_for(
                lambda: Report.objects.filter(
                    pk=second.pk, status="succeeded"
                ).exists(),
                timeout=90,
                every=0.5,
            )
            assert worker.poll() is None  # the same worker process did it
    finally:
        if worker is not None:
            _stop(worker)
        server.terminate()
        server.wait(timeout=10)


def _ping(redis, url) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except Exception:
        return False
