"""Alerts: judging the rules, opening, de-duplicating, resolving,
acknowledging and snoozing; notifications are published after commit."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from core.exceptions import ApplicationError, ConflictError
from core.signals import alert_opened
from monitoring.calculations import rules
from monitoring.choices import ACTIVE_ALERT_STATUSES, AlertStatus
from monitoring.models import Alert, AlertRule, Monitor, Report
from monitoring.selectors import traffic_totals

logger = logging.getLogger(__name__)


def _spec(rule: AlertRule) -> rules.RuleSpec:
    return rules.RuleSpec(
        kind=rule.kind,
        threshold=rule.threshold,
        column=rule.column,
        metric=rule.metric,
        minutes=rule.minutes,
    )


def report_facts(summary: dict) -> dict:
    """What the report rules look at, from a report summary."""
    columns = summary.get("columns", [])
    performance = summary.get("performance", {})
    return {
        "drift_share": summary.get("feature_drift", {}).get("share")
        if summary.get("status") == "ok"
        else None,
        "tested_columns": [c["column"] for c in columns if c.get("score") is not None],
        "drifted_columns": [c["column"] for c in columns if c.get("drifted")],
        "metrics": {
            k: v.get("value") for k, v in performance.get("metrics", {}).items()
        },
        "provisional": performance.get("provisional", True),
        "outlier_rate": summary.get("outliers", {}).get("rate"),
    }


def _schedule_governance_checks(model_name: str) -> None:
    from governance.services import promotion_checks_schedule

    def run() -> None:
        try:
            promotion_checks_schedule(model_name=model_name)
        except Exception:
            logger.exception("could not re-run the promotion checks of %s", model_name)

    transaction.on_commit(run)


def _notify(alert_id: int, event: str) -> None:
    def publish() -> None:
        from monitoring.tasks import alert_notify

        try:
            alert_notify.delay(alert_id, event)
        except Exception as exc:
            logger.warning(
                "could not publish notification of alert %s: %s", alert_id, exc
            )

    transaction.on_commit(publish)


def _announce_opened(alert: Alert, rule: AlertRule) -> None:
    """Tell other apps (retraining policies) of the new alert, after commit."""
    payload = {
        "alert_id": alert.pk,
        "model_name": alert.model_name,
        "model_version": alert.model_version,
        "kind": rule.kind,
        "severity": alert.severity,
        "title": alert.title,
        "value": alert.value,
    }
    transaction.on_commit(
        lambda: alert_opened.send_robust(sender=Alert, **payload), robust=True
    )


def alert_fire(
    *,
    rule: AlertRule,
    outcome: rules.Outcome,
    version: int | None,
    report: Report | None,
    now: datetime,
) -> tuple[Alert, bool]:
    """Open an alert for ``rule``, or update its active one (de-duplication)."""
    active = Alert.objects.filter(rule=rule, status__in=ACTIVE_ALERT_STATUSES)
    if active.update(
        occurrences=F("occurrences") + 1,
        last_seen_at=now,
        value=outcome.value,
        report=report,
        updated_at=now,
    ):
        return active.get(), False
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                rule=rule,
                monitor=rule.monitor,
                model_name=rule.monitor.model_name,
                model_version=version,
                severity=rule.severity,
                title=f"{rule.monitor.model_name}: {outcome.message}"[:255],
                value=outcome.value,
                report=report,
                opened_at=now,
                last_seen_at=now,
            )
    except IntegrityError:  # a concurrent evaluation opened it first
        return active.get(), False
    logger.warning("alert %s opened: %s", alert.pk, alert.title)
    _notify(alert.pk, "opened")
    _announce_opened(alert, rule)
    _schedule_governance_checks(alert.model_name)
    return alert, True


def alert_resolve(*, rule: AlertRule, now: datetime) -> int:
    """Resolve the rule's active alert (the rule stopped firing)."""
    ids = list(
        Alert.objects.filter(rule=rule, status__in=ACTIVE_ALERT_STATUSES).values_list(
            "pk", flat=True
        )
    )
    resolved = Alert.objects.filter(
        pk__in=ids, status__in=ACTIVE_ALERT_STATUSES
    ).update(status=AlertStatus.RESOLVED, resolved_at=now, updated_at=now)
    if resolved:
        logger.info("alert(s) %s of rule %s resolved", ids, rule.pk)
        for alert_id in ids:
            _notify(alert_id, "resolved")
        _schedule_governance_checks(rule.monitor.model_name)
    return resolved


def _judge(
    rule: AlertRule, facts: dict, *, version, report, now
) -> tuple[str, rules.Outcome]:
    outcome = rules.evaluate(_spec(rule), facts)
    if outcome.fired is True:
        alert_fire(rule=rule, outcome=outcome, version=version, report=report, now=now)
        return "fired", outcome
    if outcome.fired is False:
        alert_resolve(rule=rule, now=now)
        return "clear", outcome
    return "unknown", outcome


def alerts_evaluate_report(*, report: Report) -> dict[int, str]:
    """Judge the monitor's report rules on a report, once per report (flag
    set in the same transaction as the alert writes). Only the monitor's
    newest report may resolve alerts, so a late old report cannot."""
    now = timezone.now()
    results: dict[int, str] = {}
    with transaction.atomic():
        if not Report.objects.filter(
            pk=report.pk, alerts_evaluated_at__isnull=True
        ).update(alerts_evaluated_at=now):
            return results
        newer = Report.objects.filter(
            monitor=report.monitor,
            key="",
            window_end__gt=report.window_end,
            status="succeeded",
        ).exists()
        facts = report_facts(report.summary or {})
        for rule in report.monitor.rules.filter(
            enabled=True, kind__in=rules.REPORT_RULES
        ):
            outcome = rules.evaluate(_spec(rule), facts)
            if outcome.fired is False and newer:
                continue
            results[rule.pk], _ = _judge(
                rule, facts, version=report.model_version, report=report, now=now
            )
    return results


def alerts_evaluate_traffic(*, now: datetime | None = None) -> int:
    """Judge the error-rate and no-traffic rules of every enabled monitor on
    the rollups (run every minute). Returns the number of rules judged."""
    now = now or timezone.now()
    judged = 0
    for rule in AlertRule.objects.filter(
        enabled=True, kind__in=rules.TRAFFIC_RULES, monitor__enabled=True
    ).select_related("monitor"):
        totals = traffic_totals(
            model_name=rule.monitor.model_name,
            start=now - timedelta(minutes=rule.minutes),
            end=now,
        )
        facts = rules.traffic_facts(
            requests=totals["requests"],
            errors=totals["errors"],
            server_errors=totals["server_errors"],
            count_client_errors=rule.count_client_errors,
        )
        with transaction.atomic():
            _judge(rule, facts, version=None, report=None, now=now)
        judged += 1
    return judged


def alert_acknowledge(*, alert: Alert, user) -> Alert:
    """Someone is on it: the alert stays active (governance still sees it)."""
    now = timezone.now()
    if not Alert.objects.filter(pk=alert.pk, status=AlertStatus.OPEN).update(
        status=AlertStatus.ACKNOWLEDGED,
        acknowledged_by=user,
        acknowledged_at=now,
        updated_at=now,
    ):
        raise ConflictError(f"alert {alert.pk} is {alert.status}, not open")
    alert.refresh_from_db()
    logger.info("alert %s acknowledged by %s", alert.pk, user)
    return alert


def alert_snooze(*, alert: Alert, minutes: int, user) -> Alert:
    """No notifications for ``minutes``; the alert stays active."""
    if not 1 <= minutes <= 60 * 24 * 30:
        raise ApplicationError(
            "snooze between 1 minute and 30 days",
            {"fields": {"minutes": ["between 1 and 43200"]}},
        )
    now = timezone.now()
    if not Alert.objects.filter(pk=alert.pk, status__in=ACTIVE_ALERT_STATUSES).update(
        snoozed_until=now + timedelta(minutes=minutes), updated_at=now
    ):
        raise ConflictError(f"alert {alert.pk} is resolved")
    alert.refresh_from_db()
    logger.info("alert %s snoozed for %s min by %s", alert.pk, minutes, user)
    return alert


def monitor_default_rules(*, monitor: Monitor) -> list[AlertRule]:
    """A sensible starting set of rules for a new monitor."""
    specs = [
        {"kind": rules.DRIFT_SHARE_ABOVE, "threshold": 0.3, "severity": "warning"},
        {"kind": rules.FEATURE_DRIFTED, "column": "prediction", "severity": "warning"},
        {
            "kind": rules.METRIC_BELOW,
            "metric": "f1",
            "threshold": 0.8,
            "severity": "critical",
        },
        {"kind": rules.OUTLIER_RATE_ABOVE, "threshold": 0.1, "severity": "warning"},
        {
            "kind": rules.ERROR_RATE_ABOVE,
            "threshold": 0.05,
            "minutes": 15,
            "severity": "critical",
        },
        {
            "kind": rules.NO_TRAFFIC,
            "minutes": 120,
            "severity": "info",
            "enabled": False,
        },
    ]
    return [AlertRule.objects.create(monitor=monitor, **spec) for spec in specs]
