"""Celery tasks of the inference app: batch scoring (on demand and scheduled)."""

from __future__ import annotations

import logging
import uuid

from celery import shared_task, signals
from django.conf import settings

from core.metrics import job_timed

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
    from inference.services.batch import batch_job_attempt_failed, batch_job_run

    with job_timed("inference.tasks.batch_score") as timer:
        try:
            job = batch_job_run(job_id=job_id, max_seconds=SLICE_SECONDS)
        except Exception as exc:
            logger.exception("batch job %s: attempt failed", job_id)
            final = self.request.retries >= self.max_retries
            job = batch_job_attempt_failed(
                job_id=job_id, error=f"{type(exc).__name__}: {exc}", final=final
            )
            if not final:
                raise self.retry(
                    countdown=min(RETRY_MAX_SECONDS, 2**self.request.retries)
                ) from None
        if job.status == BatchStatus.FAILED:
            timer.failed()
    if job.status == BatchStatus.RUNNING and job.rows_done < job.rows_total:
        batch_score.delay(job_id)  # next slice
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
    client: str | None = None,
    key_column: str = "",
    ttl_seconds: int | None = None,
) -> str:
    """Score a server-side CSV on a schedule (attach to a PeriodicTask in the
    admin with kwargs ``{"path": ..., "model": ..., "alias": ...}``, and
    ``"client"``: the username owning the predictions, default
    ``INFERENCE_SCHEDULED_BATCH_CLIENT``). With ``"key_column"`` (and
    optionally ``"ttl_seconds"``) the run fills the precomputed store of
    hybrid serving instead of logging predictions.

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
        client=client,
        key_column=key_column,
        ttl_seconds=ttl_seconds,
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


@shared_task(
    name="inference.tasks.prediction_log_partitions",
    acks_late=True,
    ignore_result=True,
)
def prediction_log_partitions() -> list[str]:
    """Create the prediction log's partitions of the coming days (hourly;
    a no-op on SQLite)."""
    from inference.services.partitions import log_partitions_ensure

    return log_partitions_ensure(
        days_ahead=settings.INFERENCE["LOG_PARTITION_DAYS_AHEAD"]
    )


#: Expired precomputed entries are kept this long, so a keyed request for one
#: is told it expired rather than that it was never computed.
PRECOMPUTED_KEEP_EXPIRED_DAYS = 7


@shared_task(
    name="inference.tasks.precomputed_prune",
    acks_late=True,
    ignore_result=True,
)
def precomputed_prune() -> int:
    """Delete precomputed predictions long expired (daily schedule)."""
    from datetime import timedelta

    from django.utils import timezone

    from inference.services.precomputed import precomputed_prune as prune

    return prune(
        now=timezone.now(),
        keep_expired=timedelta(days=PRECOMPUTED_KEEP_EXPIRED_DAYS),
    )
