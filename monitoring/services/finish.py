"""What follows a stored report, each step once whatever the deliveries:
the performance window, the alert rules, the digest e-mail."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from governance.selectors import audit_chain_head
from monitoring.choices import ReportKind, ReportStatus
from monitoring.models import Report

logger = logging.getLogger(__name__)


def report_url(report: Report) -> str:
    return settings.SITE_URL.rstrip("/") + reverse(
        "monitoring:report-detail", kwargs={"pk": report.pk}
    )


def report_finish(*, report: Report) -> None:
    """Follow-ups of a succeeded report (idempotent; safe on every delivery)."""
    from monitoring.services.alerts import alerts_evaluate_report
    from monitoring.services.performance import performance_window_refresh

    if report.status != ReportStatus.SUCCEEDED:
        return
    if report.kind != ReportKind.COMPARISON and report.model_version:
        performance_window_refresh(
            monitor=report.monitor,
            version=report.model_version,
            start=report.window_start,
            end=report.window_end,
        )
    if report.kind != ReportKind.COMPARISON:
        alerts_evaluate_report(report=report)
    report_email_send(report=report)


def _digest_context(report: Report) -> dict:
    summary = report.summary or {}
    columns = [
        c
        for c in summary.get("columns", [])
        if c.get("drifted") and c.get("group") in ("feature", "descriptor")
    ]
    columns.sort(key=lambda c: c.get("score") or 0, reverse=True)
    return {
        "report": report,
        "monitor": report.monitor,
        "summary": summary,
        "top_drifted": columns[:5],
        "performance": summary.get("performance", {}),
        "alerts": list(
            report.monitor.alerts.filter(status__in=["open", "acknowledged"])[:10]
        ),
        "url": report_url(report),
        # the mail is also a copy of the audit chain head outside the database
        "audit_head": audit_chain_head(),
    }


def report_email_send(*, report: Report) -> bool:
    """Send the digest of a report once. The flag is set by a conditional
    UPDATE before sending; if sending fails the flag is cleared again and the
    error raised (the job retries). Returns whether this call sent it."""
    recipients = report.monitor.recipient_list
    if not recipients or report.status != ReportStatus.SUCCEEDED:
        return False
    now = timezone.now()
    with transaction.atomic():
        claimed = Report.objects.filter(
            pk=report.pk, email_sent_at__isnull=True
        ).update(email_sent_at=now)
    if not claimed:
        return False
    context = _digest_context(report)
    health = report.get_health_display() or "no verdict"
    subject = (
        f"[Modelgate] {report.monitor.model_name}: {health} "
        f"({report.window_start:%Y-%m-%d %H:%M}–{report.window_end:%H:%M} UTC)"
    )
    text = render_to_string("monitoring/email/digest.txt", context)
    html = render_to_string("monitoring/email/digest.html", context)
    message = EmailMultiAlternatives(subject, text, to=recipients)
    message.attach_alternative(html, "text/html")
    try:
        message.send()
    except Exception:
        Report.objects.filter(pk=report.pk, email_sent_at=now).update(
            email_sent_at=None
        )
        logger.exception("digest of report %s could not be sent", report.pk)
        raise
    logger.info("digest of report %s sent to %d recipients", report.pk, len(recipients))
    return True
