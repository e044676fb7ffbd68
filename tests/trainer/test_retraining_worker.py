"""Retraining on a real Celery worker over Redis: an alert opened by
monitoring and delivered three times starts exactly one run, which trains on
the original data plus the labelled predictions, registers a version whose
fingerprint covers them and opens a staging request that goes through the
normal checks; no alias moves."""

from __future__ import annotations

import time
import uuid

import pytest
from django.utils import timezone

from governance.choices import RequestStatus
from governance.models import ModelVersion, PromotionRequest
from governance.selectors import model_aliases
from monitoring.calculations import rules
from monitoring.services.alerts import alert_fire
from tests.monitoring.factories import add_rule, make_monitor
from tests.trainer.test_retraining import SPAM, log_labelled, make_policy
from trainer.choices import RunStatus
from trainer.models import RetrainingRun

QUEUE = f"mg-test-retraining-{uuid.uuid4().hex[:8]}"
pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def wait_for(predicate, timeout: float = 180, every: float = 0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s")


def _use_broker(app, url: str) -> None:
    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def worker(redis_url, settings, transactional_db):
    """A real worker (solo pool, in a thread of this process) on a private
    queue of the test Redis; the governance rows a flush removes are put back."""
    from celery.contrib.testing.worker import start_worker

    from config.celery_app import app
    from tests.governance.conftest import _create_governance_defaults

    _create_governance_defaults()
    settings.CELERY_QUEUES_BY_APP = {}
    settings.CELERY_QUEUES_BY_TASK = {}
    keys = ("broker_url", "task_always_eager", "task_default_queue")
    saved = {k: app.conf[k] for k in keys}
    app.conf.update(task_always_eager=False, task_default_queue=QUEUE)
    _use_broker(app, redis_url)
    with start_worker(
        app,
        pool="solo",
        concurrency=1,
        queues=[QUEUE],
        perform_ping_check=False,
        loglevel="WARNING",
        shutdown_timeout=60,
    ):
        yield
    app.conf.update(saved)
    _use_broker(app, saved["broker_url"])
    import redis

    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"*{QUEUE}*"):
        client.delete(key)
    _create_governance_defaults()


def test_an_alert_delivered_three_times_retrains_once_and_requests_staging(
    worker, make_user
):
    from trainer.tasks import retraining_alert_task

    # given a policy retraining on drift, and labelled traffic of the model
    name = f"sms-retrain-{uuid.uuid4().hex[:6]}"
    scientist = make_user("dana", roles=["requesters"])
    make_policy(name, scientist)
    labelled = [(f"{SPAM} ref {i}", "spam") for i in range(5)] + [
        (f"running late, see you at {i} pm", "ham") for i in range(5)
    ]
    log_labelled(name, labelled + [("nobody labelled this", None)])
    rule = add_rule(make_monitor(name), "drift_share_above", threshold=0.3)

    # when monitoring opens a drift alert, and it is delivered twice more
    alert, opened = alert_fire(
        rule=rule,
        outcome=rules.Outcome(fired=True, value=0.6, message="drift share 0.6"),
        version=1,
        report=None,
        now=timezone.now(),
    )
    assert opened
    payload = {
        "alert_id": alert.pk,
        "model_name": name,
        "model_version": 1,
        "kind": "drift_share_above",
        "severity": "warning",
        "title": alert.title,
        "value": 0.6,
    }
    retraining_alert_task.delay(**payload)
    retraining_alert_task.delay(**payload)

    # then one run trains, registers and opens a staging request
    run = wait_for(
        lambda: (
            RetrainingRun.objects.filter(
                model_name=name, promotion_request__isnull=False
            ).first()
            or RetrainingRun.objects.filter(
                model_name=name, status__in=[RunStatus.ERROR, RunStatus.FAILED]
            ).first()
        )
    )
    assert run.status == RunStatus.SUCCEEDED, run.error or run.log
    assert RetrainingRun.objects.filter(model_name=name).count() == 1
    assert run.trigger == "alert" and run.trigger_key == f"alert:{alert.pk}"
    assert run.model_version == 1 and run.tests_passed
    assert run.duration_seconds > 0

    production = run.data["sources"]["production"]
    assert production["rows_used"] == 10
    assert production["labelled_predictions"] == 10
    version = ModelVersion.objects.get(registered_model__name=name, version=1)
    assert version.tags["modelgate.data_sha256"] == run.data["sha256"]
    assert version.tags["modelgate.data_sources"].endswith(",production=10")

    request = PromotionRequest.objects.get(pk=run.promotion_request_id)
    assert request.target == "staging"
    assert request.requester == scientist
    assert f"alert #{alert.pk}" in request.justification
    assert "production 10 rows" in request.justification
    # the request goes through the normal checks on the worker
    wait_for(
        lambda: (
            PromotionRequest.objects.get(pk=request.pk).checks_status
            in ("passed", "failed")
        )
    )
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING
    assert model_aliases(name=name) == {}
