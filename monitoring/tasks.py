"""Celery tasks of monitoring: thin interfaces over the services.

Every task takes ids, is idempotent by a database key and runs with
``acks_late`` and ``reject_on_worker_lost`` (a killed worker's message is
delivered again; the database makes the second delivery a no-op or a resume).
"""

from __future__ import annotations

import logging

from celery import shared_task

from core.metrics import job_timed

logger = logging.getLogger(__name__)

COMMON = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "ignore_result": True,
}


@shared_task(name="monitoring.tasks.monitor_tick", **COMMON)
def monitor_tick(monitor_id: int) -> int | None:
    """Beat entry of a monitor: make sure the last complete window has its
    report (created once; its job published after commit)."""
    from monitoring.models import Monitor
    from monitoring.services.reports import report_schedule

    monitor = Monitor.objects.filter(pk=monitor_id).first()
    if monitor is None:
        logger.warning("monitor %s no longer exists; tick ignored", monitor_id)
        return None
    report = report_schedule(monitor=monitor)
    return report.pk if report else None


@shared_task(
    bind=True,
    name="monitoring.tasks.report_run",
    max_retries=None,  # the attempt cap is kept in the database
    **COMMON,
)
def report_run(self, report_id: int) -> str:
    """Compute one report (see monitoring.services.reports)."""
    from monitoring.services.reports import ReportBusy, ReportRetry, report_execute

    try:
        outcome = report_execute(report_id=report_id)
    except ReportBusy as busy:
        raise self.retry(countdown=busy.countdown, max_retries=100) from None
    except ReportRetry as retry:
        # computing is capped in the database (REPORT_MAX_ATTEMPTS); this cap
        # only bounds retries of the follow-ups (e-mail) of a stored report
        raise self.retry(countdown=retry.countdown, max_retries=20) from None
    return outcome.status


@shared_task(
    bind=True,
    name="monitoring.tasks.alert_notify",
    max_retries=5,
    default_retry_delay=30,
    **COMMON,
)
def alert_notify(self, alert_id: int, event: str) -> bool:
    """Send an alert's e-mail and webhook (once per opening)."""
    from monitoring.services.notify import alert_notify_send

    try:
        return alert_notify_send(alert_id=alert_id, event=event)
    except Exception as exc:
        raise self.retry(exc=exc) from exc


@shared_task(
    name="monitoring.tasks.rollups_update",
    time_limit=600,
    soft_time_limit=540,
    **COMMON,
)
def rollups_update() -> int:
    """Fold new log rows and request errors into the rollups."""
    from monitoring.services.rollups import (
        rollups_update_errors,
        rollups_update_predictions,
    )

    with job_timed("monitoring.tasks.rollups_update"):
        rows = rollups_update_predictions()
    with job_timed("monitoring.tasks.rollups_update_errors"):
        rollups_update_errors()
    return rows


@shared_task(name="monitoring.tasks.alerts_traffic", **COMMON)
def alerts_traffic() -> int:
    """Judge the error-rate and no-traffic rules on the rollups."""
    from monitoring.services.alerts import alerts_evaluate_traffic

    with job_timed("monitoring.tasks.alerts_traffic"):
        return alerts_evaluate_traffic()


@shared_task(name="monitoring.tasks.performance_late_labels", **COMMON)
def performance_late_labels() -> int:
    """Recompute performance windows whose labels arrived or changed."""
    from monitoring.services.performance import performance_late_labels_refresh

    with job_timed("monitoring.tasks.performance_late_labels"):
        return performance_late_labels_refresh()


@shared_task(name="monitoring.tasks.reports_recover", **COMMON)
def reports_recover() -> int:
    """Publish again report jobs that no worker holds (lost or failed publish,
    dead worker)."""
    from monitoring.services.reports import reports_recover as recover

    with job_timed("monitoring.tasks.reports_recover"):
        return recover()


@shared_task(name="monitoring.tasks.rollups_prune", **COMMON)
def rollups_prune() -> int:
    from monitoring.services.rollups import rollups_prune as prune

    with job_timed("monitoring.tasks.rollups_prune"):
        return prune()
