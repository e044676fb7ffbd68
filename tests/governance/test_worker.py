"""With a real Celery worker (embedded, on the configured broker: Redis when
REDIS_URL is set, else the filesystem broker in a temp folder): checks and the
apply run as tasks after commit, and a re-delivered apply changes nothing.

PostgreSQL only: the test database of the SQLite runs is Django's shared-cache
in-memory database, whose table locks make a worker thread and the test thread
fail with "database table is locked" instead of waiting (a file database, as
the embedded default uses, waits on the busy timeout)."""

import time

import pytest
from celery.contrib.testing.worker import start_worker

from config.celery_app import app
from governance.choices import AuditKind, ChecksStatus, RequestStatus
from governance.models import AuditEvent, PromotionRequest
from governance.services.approvals import promotion_approve
from governance.services.requests import promotion_request_create
from governance.tasks import promotion_apply_task

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("governance_defaults"),
]


def _reset_producer_pool() -> None:
    """Forget what Celery cached from the configuration of the moment: pooled
    broker connections (eager runs open them; this test changes the filesystem
    broker's folders) and the queue declarations (a later test may change the
    default queue), before and after the worker runs."""
    from kombu import pools

    pools.reset()  # closes and forgets every pooled connection
    app._pool = None
    app.__dict__.pop("amqp", None)  # queues, router and producer pool


@pytest.fixture
def worker(settings, tmp_path):
    """A worker thread consuming the broker; tasks are published, not eager."""
    saved = {
        "task_always_eager": app.conf.task_always_eager,
        "broker_transport_options": dict(app.conf.broker_transport_options or {}),
    }
    app.conf.task_always_eager = False
    if app.conf.broker_url.startswith("filesystem://"):
        queue = tmp_path / "broker"
        for folder in ("queue", "processed"):
            (queue / folder).mkdir(parents=True)
        app.conf.broker_transport_options = {
            **saved["broker_transport_options"],
            "data_folder_in": str(queue / "queue"),
            "data_folder_out": str(queue / "queue"),
            "processed_folder": str(queue / "processed"),
            "polling_interval": 0.2,
        }
    _reset_producer_pool()
    app.control.purge()  # nothing left over from an earlier run
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        yield
    _reset_producer_pool()
    app.conf.task_always_eager = saved["task_always_eager"]
    app.conf.broker_transport_options = saved["broker_transport_options"]


def _wait_for(predicate, timeout=45.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_checks_and_apply_run_on_the_worker_once(
    worker, people, model_factory, mlflow_aliases
):
    name = model_factory(versions=2)
    request = promotion_request_create(
        user=people.alice,
        model_name=name,
        version=1,
        target="staging",
        justification="through the worker",
    )
    assert _wait_for(
        lambda: (
            PromotionRequest.objects.get(pk=request.pk).checks_status
            == ChecksStatus.PASSED
        )
    ), "the worker did not run the checks"

    promotion_approve(request_id=request.pk, user=people.bob)
    assert _wait_for(
        lambda: (
            PromotionRequest.objects.get(pk=request.pk).status == RequestStatus.APPLIED
        )
    ), PromotionRequest.objects.get(pk=request.pk).apply_error
    assert mlflow_aliases(name) == {"staging": 1}

    # the same apply delivered twice more: no second move, no second event
    promotion_apply_task.delay(request_id=request.pk)
    promotion_apply_task.delay(request_id=request.pk)
    # a later task whose effect we can see: once it ran, both deliveries had run
    # (one solo worker takes messages in order)
    later = promotion_request_create(
        user=people.alice,
        model_name=name,
        version=2,
        target="staging",
        justification="marker",
    )
    assert _wait_for(
        lambda: (
            PromotionRequest.objects.get(pk=later.pk).checks_status
            == ChecksStatus.PASSED
        )
    )
    applied = AuditEvent.objects.filter(request_ref=request.pk, kind=AuditKind.APPLIED)
    assert applied.count() == 1
    assert PromotionRequest.objects.get(pk=request.pk).apply_attempts == 1
    assert mlflow_aliases(name) == {"staging": 1}
