"""Celery tasks of the inference app: batch scoring (on demand and scheduled)."""

from __future__ import annotations

import logging
import time
import uuid

from celery import shared_task, signals
from django.conf import settings

from core.metrics import JOB_DURATION, JOB_FAILURES

logger = logging.getLogger(__name__)

SLICE_SECONDS = 600
RETRY_MAX_SECONDS = 60  # back-off cap of a failed slice


@shared_task(
    name="inference.tasks.batch_score",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    max_retries=5,
)
def batch_score(self, job_id: str) -> str:
    """Score a batch job; resumable (the job row records the committed chunks).

    A long job works in slices of about ten minutes and re-enqueues itself,
    so it never meets the task time limit.
    """
    from inference.choices import BatchStatus
    from inference.services.batch import batch_job_run

    started = time.perf_counter()
    try:
        job = batch_job_run(job_id=job_id, max_seconds=SLICE_SECONDS)
    except Exception:
        JOB_FAILURES.labels("inference.batch_score").inc()
        logger.exception("batch job %s: attempt failed", job_id)
        raise self.retry(
            countdown=min(RETRY_MAX_SECONDS, 2**self.request.retries)
        ) from None
    if job.status == BatchStatus.RUNNING and job.rows_done < job.rows_total:
        batch_score.delay(job_id)  # next slice
    JOB_DURATION.labels("inference.batch_score", job.status).observe(
        time.perf_counter() - started
    )
    return job.status


@shared_task(
    name="inference.tasks.batch_score_scheduled",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def batch_score_scheduled(
    self,
    path: str,
    model: str | None = None,
    alias: str | None = "production",
    version: int | None = None,
) -> str:
    """Score a server-side CSV on a schedule (attach to a PeriodicTask in the
    admin with kwargs ``{"path": ..., "model": ..., "alias": ...}``).

    One job per delivery of the message (keyed by the task id): a redelivered
    message resumes its job instead of starting another.
    """
    from inference.services.batch import batch_job_scheduled_run

    key = f"scheduled:{self.request.id or uuid.uuid4().hex}"
    job = batch_job_scheduled_run(
        path=path,
        model=model or settings.MODELGATE["DEFAULT_MODEL"],
        alias=None if version else alias,
        version=version,
        key=key,
    )
    logger.info("scheduled batch %s: %s (%s rows)", key, job.status, job.rows_done)
    return job.status


@signals.worker_process_init.connect
def _warm_up_worker(**_kwargs) -> None:
    """Load the configured models in each worker process at start."""
    from inference.serving import warm_up

    warm_up()


@shared_task(
    name="inference.tasks.prediction_log_prune",
    acks_late=True,
    ignore_result=True,
)
def prediction_log_prune() -> int:
    """Apply the retention setting to the prediction log (daily schedule)."""
    from inference.services.retention import prediction_log_prune as prune

    return prune(older_than_days=settings.INFERENCE["RETENTION_DAYS"])
