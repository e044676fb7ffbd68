"""Reads of the monitoring app: what the dashboards, the API, governance and
the /metrics collector see. Dashboards read rollups and reports only."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.db.models import Count, QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from monitoring.calculations import latency
from monitoring.choices import (
    ACTIVE_ALERT_STATUSES,
    Granularity,
    ModelHealth,
    ReportKind,
    ReportStatus,
)
from monitoring.models import Alert, Monitor, PerformanceWindow, Report, TrafficRollup


def open_alerts_for_model(*, model_name: str, version: int | None) -> list[dict]:
    """Active (open or acknowledged) alerts of a model, for governance's
    production check. With ``version``, alerts about another version are left
    out (alerts that name no version, like traffic rules, always count)."""
    qs = Alert.objects.filter(
        model_name=model_name, status__in=ACTIVE_ALERT_STATUSES
    ).select_related("rule")
    if version is not None:
        qs = qs.filter(model_version__in=[version]) | qs.filter(
            model_version__isnull=True
        )
    return [
        {
            "id": a.pk,
            "severity": a.severity,
            "rule": a.rule.kind,
            "title": a.title,
            "opened_at": a.opened_at.isoformat(),
            "url": reverse("monitoring:model-dashboard", kwargs={"name": a.model_name})
            + f"#alert-{a.pk}",
        }
        for a in qs.order_by("-opened_at")
    ]


def governance_model_url(name: str) -> str | None:
    """Link to governance's model page when that page exists."""
    try:
        return reverse("governance:model-detail", kwargs={"name": name})
    except NoReverseMatch:  # governance's pages arrive with its own branch
        return None


def _rollups(
    *, model_name: str, start: datetime, end: datetime, granularity: str
) -> QuerySet[TrafficRollup]:
    return TrafficRollup.objects.filter(
        model_name=model_name,
        granularity=granularity,
        bucket_start__gte=start,
        bucket_start__lt=end,
    )


def traffic_totals(*, model_name: str, start: datetime, end: datetime) -> dict:
    """Predictions, errors (4xx and 5xx), server errors (5xx) and outliers of a
    model in ``[start, end)`` (minute rollups)."""
    rows = _rollups(
        model_name=model_name,
        start=start.replace(second=0, microsecond=0),
        end=end,
        granularity=Granularity.MINUTE,
    ).values_list("requests", "errors", "server_errors", "outliers")
    totals = {"requests": 0, "errors": 0, "server_errors": 0, "outliers": 0}
    for requests, errors, server_errors, outliers in rows:
        totals["requests"] += requests
        totals["errors"] += errors
        totals["server_errors"] += server_errors
        totals["outliers"] += outliers
    return totals


def traffic_series(
    *, model_name: str, start: datetime, end: datetime, granularity: str
) -> dict:
    """Per bucket (all versions together): requests, error rate (refused or
    failed requests, 4xx and 5xx), server error rate (5xx), latency
    p50/p95/p99, outlier rate, predictions per label."""
    merged: dict[datetime, dict] = {}
    for r in _rollups(
        model_name=model_name, start=start, end=end, granularity=granularity
    ).order_by("bucket_start"):
        b = merged.setdefault(
            r.bucket_start,
            {
                "requests": 0,
                "errors": 0,
                "server_errors": 0,
                "outliers": 0,
                "hist": latency.empty_histogram(),
                "labels": defaultdict(int),
            },
        )
        b["requests"] += r.requests
        b["errors"] += r.errors
        b["server_errors"] += r.server_errors
        b["outliers"] += r.outliers
        if r.latency_buckets:
            b["hist"] = latency.merge([b["hist"], r.latency_buckets])
        for label, n in (r.predictions or {}).items():
            b["labels"][label] += n
    times = sorted(merged)
    labels = sorted({label for b in merged.values() for label in b["labels"]})
    series = {
        "time": [t.isoformat() for t in times],
        "requests": [merged[t]["requests"] for t in times],
        "errors": [merged[t]["errors"] for t in times],
        "error_rate": [],
        "server_error_rate": [],
        "outlier_rate": [],
        "p50": [],
        "p95": [],
        "p99": [],
        "labels": {
            label: [merged[t]["labels"].get(label, 0) for t in times]
            for label in labels
        },
        "granularity": granularity,
    }
    for t in times:
        b = merged[t]
        handled = b["requests"] + b["errors"]
        series["error_rate"].append(b["errors"] / handled if handled else None)
        series["server_error_rate"].append(
            b["server_errors"] / handled if handled else None
        )
        series["outlier_rate"].append(
            b["outliers"] / b["requests"] if b["requests"] else None
        )
        for q, key in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
            series[key].append(latency.percentile(b["hist"], q))
    series["totals"] = {
        "requests": sum(series["requests"]),
        "errors": sum(series["errors"]),
        "server_errors": sum(merged[t]["server_errors"] for t in times),
        "p95": latency.percentile(
            latency.merge([merged[t]["hist"] for t in times]), 0.95
        )
        if times
        else None,
    }
    return series


def latest_reports(*, model_name: str, limit: int = 20) -> QuerySet[Report]:
    return (
        Report.objects.filter(model_name=model_name)
        .select_related("monitor")
        .defer("summary")
        .order_by("-window_end", "-id")[:limit]
    )


def drift_history(*, model_name: str, limit: int = 48) -> dict:
    """Drift share and per-column scores of the model's recent window reports
    (the 12 columns with the highest scores)."""
    reports = list(
        Report.objects.filter(
            model_name=model_name,
            status=ReportStatus.SUCCEEDED,
            kind__in=[ReportKind.SCHEDULED, ReportKind.ON_DEMAND],
        )
        .order_by("-window_end")
        .values("window_end", "drift_share", "summary")[:limit]
    )
    reports.reverse()
    times = [r["window_end"].isoformat() for r in reports]
    columns: dict[str, list] = {}
    for i, r in enumerate(reports):
        for c in (r["summary"] or {}).get("columns", []):
            if c.get("group") not in ("feature", "descriptor", "prediction"):
                continue
            columns.setdefault(c["column"], [None] * len(reports))[i] = c.get("score")
    # the columns that came closest to (or past) drift, so the chart stays legible
    top = sorted(
        columns, key=lambda c: max((v or 0) for v in columns[c]), reverse=True
    )[:12]
    return {
        "time": times,
        "share": [r["drift_share"] for r in reports],
        "columns": {c: columns[c] for c in top},
        "methods": {
            c["column"]: f"{c['method']} ≥ {c['threshold']}"
            for c in (
                (reports[-1]["summary"] or {}).get("columns", []) if reports else []
            )
        },
    }


def performance_history(*, model_name: str, limit: int = 200) -> dict:
    windows = list(
        PerformanceWindow.objects.filter(monitor__model_name=model_name)
        .order_by("-window_start")
        .values("window_start", "model_version", "coverage", "provisional", "metrics")[
            :limit
        ]
    )
    windows.reverse()
    metrics: dict[str, list] = {}
    for i, w in enumerate(windows):
        for name, m in (w["metrics"] or {}).items():
            metrics.setdefault(name, [None] * len(windows))[i] = m.get("value")
    return {
        "time": [w["window_start"].isoformat() for w in windows],
        "coverage": [w["coverage"] for w in windows],
        "provisional": [w["provisional"] for w in windows],
        "metrics": metrics,
    }


def model_health(*, model_name: str) -> tuple[str, Report | None]:
    """Badge of a model: the newest window report's verdict (not enough data
    without one)."""
    report = (
        Report.objects.filter(
            model_name=model_name,
            status=ReportStatus.SUCCEEDED,
            kind__in=[ReportKind.SCHEDULED, ReportKind.ON_DEMAND],
        )
        .defer("summary")
        .order_by("-window_end", "-id")
        .first()
    )
    if report is None or not report.health:
        return ModelHealth.NO_DATA, report
    return report.health, report


def model_overview() -> list[dict]:
    """One row per monitored or registered model for the overview page."""
    from governance.selectors import model_aliases, registered_model_list

    names = sorted(
        set(Monitor.objects.values_list("model_name", flat=True))
        | {m.name for m in registered_model_list()}
    )
    open_counts = dict(
        Alert.objects.filter(status__in=ACTIVE_ALERT_STATUSES)
        .values_list("model_name")
        .annotate(n=Count("id"))
    )
    now = timezone.now()
    out = []
    for name in names:
        health, report = model_health(model_name=name)
        totals = _hour_totals(name, now - timedelta(hours=24), now)
        out.append(
            {
                "name": name,
                "health": health,
                "health_label": ModelHealth(health).label,
                "report": report,
                "open_alerts": open_counts.get(name, 0),
                "aliases": model_aliases(name=name),
                "requests_24h": totals["requests"],
                "errors_24h": totals["errors"],
                "monitors": Monitor.objects.filter(model_name=name).count(),
            }
        )
    return out


def _hour_totals(name: str, start: datetime, end: datetime) -> dict:
    rows = _rollups(
        model_name=name,
        start=start.replace(minute=0, second=0, microsecond=0),
        end=end,
        granularity=Granularity.HOUR,
    ).values_list("requests", "errors")
    return {
        "requests": sum(r for r, _ in rows),
        "errors": sum(e for _, e in rows),
    }


def active_alerts(*, model_name: str | None = None) -> QuerySet[Alert]:
    qs = Alert.objects.filter(status__in=ACTIVE_ALERT_STATUSES).select_related(
        "rule", "monitor", "acknowledged_by"
    )
    if model_name:
        qs = qs.filter(model_name=model_name)
    return qs.order_by("-opened_at")
