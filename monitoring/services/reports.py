"""Report jobs: creating the one report of a (monitor, window), claiming it
with a lease, computing it, and finishing it exactly once.

Idempotency rests on the database: the unique (monitor, window, key)
constraint gives one report row per window; a claim is a conditional UPDATE
that also counts the attempt; the result is stored only by the holder of the
current claim; the e-mail and the alert evaluation are guarded by flags set
with conditional UPDATEs. Deliveries beyond the first find the work done.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from core import metrics
from core.exceptions import ApplicationError, NotFoundError
from monitoring.calculations.windows import last_complete_window
from monitoring.choices import ReportKind, ReportStatus
from monitoring.models import Monitor, Report

logger = logging.getLogger(__name__)

TASK_NAME = "monitoring.tasks.report_run"


class ReportBusy(Exception):
    """Another worker holds a valid claim; try again after ``countdown`` s."""

    def __init__(self, countdown: float) -> None:
        super().__init__(f"report is being computed; retry in {countdown:.0f}s")
        self.countdown = countdown


class ReportLeaseLost(Exception):
    """This run's claim expired and another run took the job over."""


class ReportRetry(Exception):
    """The attempt failed below the cap; the job is pending again."""

    def __init__(self, countdown: float, error: str) -> None:
        super().__init__(error)
        self.countdown = countdown


@dataclass(frozen=True)
class Outcome:
    report_id: int
    status: str
    computed: bool


def _conf(key: str):
    return settings.MONITORING[key]


def report_enqueue(*, report_id: int) -> None:
    """Publish the job after the current transaction commits. A broker outage
    is logged, not raised: the recovery task publishes pending reports again."""

    def publish() -> None:
        from monitoring.tasks import report_run

        try:
            report_run.delay(report_id)
        except Exception as exc:
            logger.warning(
                "could not publish report %s (broker down?): %s; the recovery "
                "task will publish it again",
                report_id,
                exc,
            )

    transaction.on_commit(publish)


def report_get_or_create(
    *,
    monitor: Monitor,
    start: datetime,
    end: datetime,
    kind: str = ReportKind.SCHEDULED,
    key: str = "",
    requested_by=None,
    **fields,
) -> tuple[Report, bool]:
    """The report of ``(monitor, window, key)``, created if absent. Two beats or
    clicks racing create one row: the loser of the insert reads the winner's."""
    if end <= start:
        raise ApplicationError(
            "the window must end after it starts",
            {"fields": {"window_end": ["must be after window_start"]}},
        )
    lookup = {"monitor": monitor, "window_start": start, "window_end": end, "key": key}
    existing = Report.objects.filter(**lookup).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            report = Report.objects.create(
                **lookup,
                kind=kind,
                model_name=monitor.model_name,
                requested_by=requested_by,
                **fields,
            )
    except IntegrityError:
        return Report.objects.get(**lookup), False
    report_enqueue(report_id=report.pk)
    logger.info(
        "report %s created for %s window %s–%s (%s)",
        report.pk,
        monitor,
        start.isoformat(),
        end.isoformat(),
        kind,
    )
    return report, True


def report_schedule(*, monitor: Monitor, now: datetime | None = None) -> Report | None:
    """The beat's entry point: the report of the monitor's last complete window."""
    if not monitor.enabled:
        return None
    start, end = last_complete_window(now or timezone.now(), monitor.window_minutes)
    report, _ = report_get_or_create(monitor=monitor, start=start, end=end)
    return report


def report_request(
    *, monitor: Monitor, start: datetime, end: datetime, user=None
) -> tuple[Report, bool]:
    """Run a report now for any window. An existing report of that window is
    returned as it is; a failed one is given a new set of attempts."""
    if end > timezone.now() + timedelta(minutes=1):
        raise ApplicationError(
            "the window must have ended",
            {"fields": {"window_end": ["is in the future"]}},
        )
    report, created = report_get_or_create(
        monitor=monitor,
        start=start,
        end=end,
        kind=ReportKind.ON_DEMAND,
        requested_by=user,
    )
    if not created and report.status == ReportStatus.FAILED:
        report_reset(report=report)
        report.refresh_from_db()
    return report, created


def report_compare(
    *,
    monitor: Monitor,
    current_version: int | None,
    current_start: datetime,
    current_end: datetime,
    reference_version: int | None,
    reference_start: datetime | None,
    reference_end: datetime | None,
    user=None,
) -> tuple[Report, bool]:
    """Compare two versions or two windows: the current side's predictions
    against the reference side's predictions (same drift methods)."""
    if (reference_start is None) != (reference_end is None):
        raise ApplicationError(
            "give both ends of the reference window",
            {"fields": {"reference_end": ["required with reference_start"]}},
        )
    if reference_start and reference_end <= reference_start:
        raise ApplicationError(
            "the reference window must end after it starts",
            {"fields": {"reference_end": ["must be after reference_start"]}},
        )
    if reference_version is None and reference_start is None:
        raise ApplicationError(
            "name a reference version or a reference window",
            {"fields": {"reference_version": ["or reference_start/reference_end"]}},
        )
    raw = "|".join(
        str(x)
        for x in (current_version, reference_version, reference_start, reference_end)
    )
    key = "cmp:" + hashlib.sha256(raw.encode()).hexdigest()[:32]
    return report_get_or_create(
        monitor=monitor,
        start=current_start,
        end=current_end,
        kind=ReportKind.COMPARISON,
        key=key,
        requested_by=user,
        model_version=current_version,
        reference_version=reference_version,
        reference_start=reference_start,
        reference_end=reference_end,
    )


def report_reset(*, report: Report) -> bool:
    """Give a failed report a new set of attempts and publish it again."""
    updated = Report.objects.filter(pk=report.pk, status=ReportStatus.FAILED).update(
        status=ReportStatus.PENDING,
        attempts=0,
        progress=0,
        error="",
        claim_token="",
        lease_expires_at=None,
        updated_at=timezone.now(),
    )
    if updated:
        report_enqueue(report_id=report.pk)
    return bool(updated)


# ------------------------------------------------------------------ the job
def _claim(report_id: int) -> tuple[Report | None, str]:
    """Claim the job (conditional UPDATE, counts the attempt). Returns the
    report and the claim token, or (report, "") when there is nothing to do."""
    now = timezone.now()
    cap = _conf("REPORT_MAX_ATTEMPTS")
    lease = timedelta(seconds=_conf("REPORT_LEASE_SECONDS"))
    token = uuid.uuid4().hex
    claimable = Report.objects.filter(
        pk=report_id,
        status__in=[ReportStatus.PENDING, ReportStatus.RUNNING],
    ).filter(Q(status=ReportStatus.PENDING) | Q(lease_expires_at__lt=now))
    if claimable.filter(attempts__lt=cap).update(
        status=ReportStatus.RUNNING,
        attempts=F("attempts") + 1,
        claim_token=token,
        lease_expires_at=now + lease,
        started_at=now,
        progress=1,
        progress_message="claimed",
        updated_at=now,
    ):
        return Report.objects.select_related("monitor").get(pk=report_id), token
    report = Report.objects.select_related("monitor").filter(pk=report_id).first()
    if report is None:
        raise NotFoundError(f"report {report_id} does not exist")
    if report.status in (ReportStatus.SUCCEEDED, ReportStatus.FAILED):
        return report, ""
    if report.status == ReportStatus.RUNNING and report.lease_expires_at > now:
        raise ReportBusy((report.lease_expires_at - now).total_seconds() + 1)
    # claimable but out of attempts (e.g. the worker died on every try)
    if claimable.filter(attempts__gte=cap).update(
        status=ReportStatus.FAILED,
        finished_at=now,
        claim_token="",
        lease_expires_at=None,
        error=(report.error or "") + f"\ngave up after {report.attempts} attempts",
        updated_at=now,
    ):
        logger.error("report %s failed after %s attempts", report_id, report.attempts)
    report.refresh_from_db()
    return report, ""


def _progress_writer(report_id: int, token: str):
    lease = timedelta(seconds=_conf("REPORT_LEASE_SECONDS"))

    def write(percent: int, message: str) -> None:
        now = timezone.now()
        if not Report.objects.filter(
            pk=report_id, claim_token=token, status=ReportStatus.RUNNING
        ).update(
            progress=max(1, min(99, percent)),
            progress_message=message[:255],
            lease_expires_at=now + lease,
            updated_at=now,
        ):
            raise ReportLeaseLost(f"report {report_id}: claim lost")
        logger.info("report %s: %s%% %s", report_id, percent, message)

    return write


def _store(report: Report, token: str, summary: dict, html: str) -> bool:
    now = timezone.now()
    return bool(
        Report.objects.filter(
            pk=report.pk, claim_token=token, status=ReportStatus.RUNNING
        ).update(
            status=ReportStatus.SUCCEEDED,
            summary=summary,
            html_file=html,
            rows=summary.get("rows", 0),
            drift_share=summary.get("feature_drift", {}).get("share"),
            health=summary.get("health", ""),
            model_version=summary.get("model", {}).get("version"),
            progress=100,
            progress_message="done",
            finished_at=now,
            lease_expires_at=None,
            error="",
            updated_at=now,
        )
    )


def _release_after_error(report: Report, token: str, error: str) -> str:
    """Put the job back to pending (or failed at the cap); returns the status."""
    now = timezone.now()
    cap = _conf("REPORT_MAX_ATTEMPTS")
    mine = Report.objects.filter(
        pk=report.pk, claim_token=token, status=ReportStatus.RUNNING
    )
    if mine.filter(attempts__gte=cap).update(
        status=ReportStatus.FAILED,
        error=error,
        finished_at=now,
        claim_token="",
        lease_expires_at=None,
        updated_at=now,
    ):
        return ReportStatus.FAILED
    mine.update(
        status=ReportStatus.PENDING,
        error=error,
        claim_token="",
        lease_expires_at=None,
        updated_at=now,
    )
    return ReportStatus.PENDING


def _finish(report: Report) -> None:
    """Follow-ups of a stored report; a failure (SMTP down...) is retried by
    the job, whose next delivery finds the report done and finishes again."""
    from monitoring.services.finish import report_finish

    try:
        report_finish(report=report)
    except Exception as exc:
        logger.exception("report %s: follow-ups failed, will retry", report.pk)
        raise ReportRetry(
            _conf("REPORT_RETRY_SECONDS"), f"{type(exc).__name__}: {exc}"
        ) from exc


def report_execute(*, report_id: int) -> Outcome:
    """Run one delivery of the report job (see the module docstring)."""
    report, token = _claim(report_id)
    if not token:
        if report.status == ReportStatus.SUCCEEDED:
            _finish(report)
        return Outcome(report_id, report.status, False)

    with metrics.job_timed(TASK_NAME) as timer:
        outcome = _report_compute(report, token)
        if outcome.status == ReportStatus.FAILED:
            timer.failed()
    return outcome


def _report_compute(report: Report, token: str) -> Outcome:
    """Compute and store a claimed report, then its follow-ups."""
    from monitoring.services.compute import report_data_compute
    from monitoring.services.html_report import html_report_write

    report_id = report.pk
    progress = _progress_writer(report_id, token)
    try:
        summary = report_data_compute(report=report, progress=progress)
        reference, current, config = summary.pop("_frames")
        html = ""
        if report.monitor.html_report and summary.get("status") == "ok":
            progress(85, "writing Evidently's HTML report")
            html = html_report_write(
                report=report,
                reference=reference,
                current=current,
                config=config,
                summary=summary,
            )
    except ReportLeaseLost:
        logger.warning("report %s: claim lost, leaving it to the new holder", report_id)
        return Outcome(report_id, ReportStatus.RUNNING, False)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        status = _release_after_error(report, token, error)
        logger.exception(
            "report %s (%s) attempt %s failed: %s",
            report_id,
            report.monitor,
            report.attempts,
            error,
        )
        if status == ReportStatus.FAILED:
            return Outcome(report_id, status, False)
        raise ReportRetry(
            _conf("REPORT_RETRY_SECONDS") * report.attempts, error
        ) from exc

    if not _store(report, token, summary, html):
        logger.warning(
            "report %s: claim lost before storing; result dropped", report_id
        )
        return Outcome(report_id, ReportStatus.RUNNING, False)
    report.refresh_from_db()
    logger.info(
        "report %s done: %s rows, drift share %s, %s",
        report_id,
        report.rows,
        report.drift_share,
        report.health,
    )
    _finish(report)
    return Outcome(report_id, report.status, True)


def reports_recover(*, now: datetime | None = None) -> int:
    """Publish again the jobs that no worker holds: pending for a while (the
    publish failed or the message was lost) or running with an expired claim
    (the worker died). Safe to run any time: extra deliveries are no-ops."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=_conf("REPORT_REQUEUE_SECONDS"))
    ids = list(
        Report.objects.filter(
            Q(status=ReportStatus.PENDING, updated_at__lt=stale)
            | Q(status=ReportStatus.RUNNING, lease_expires_at__lt=now)
        ).values_list("pk", flat=True)[:500]
    )
    Report.objects.filter(pk__in=ids, status=ReportStatus.PENDING).update(
        updated_at=now
    )
    for report_id in ids:
        report_enqueue(report_id=report_id)
    if ids:
        logger.info("recovery: published %d report jobs again", len(ids))
    return len(ids)
