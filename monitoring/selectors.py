"""Reads of the monitoring app: what the dashboards, the API, governance and
the /metrics collector see. Dashboards read rollups and reports only."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Count, QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from monitoring.calculations import latency
from monitoring.calculations.charts import (
    Buckets,
    drift_ratio,
    span_buckets,
    span_hours,
)
from monitoring.calculations.methods import METHODS
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


def _chart_time(moment: datetime) -> str:
    """A chart's x value: UTC without an offset (Plotly draws dates as given)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat()


def chart_buckets(*, span: str | None, now: datetime | None = None) -> Buckets:
    """The dashboards' time grid for ``span`` ("6h", "24h", "7d", "30d").
    Buckets newer than the rollups' lag plus one rollup run are still filling."""
    from config.schedules import SCHEDULES

    now = now or timezone.now()
    _, hours = span_hours(span)
    every = next(
        s.every_seconds or 0
        for s in SCHEDULES
        if s.task == "monitoring.tasks.rollups_update"
    )
    lag = settings.MONITORING["ROLLUP_LAG_SECONDS"] + every
    return span_buckets(
        now=now, hours=hours, settled_until=now - timedelta(seconds=lag)
    )


def traffic_series(*, model_name: str, buckets: Buckets) -> dict:
    """Per bucket of the grid (all versions together; every bucket present,
    empty ones as 0 requests and no rate): requests, error rate (refused or
    failed requests, 4xx and 5xx), server error rate (5xx), latency
    p50/p95/p99, outlier rate, predictions per label."""
    n = len(buckets.starts)
    requests, errors, server_errors, outliers = [0] * n, [0] * n, [0] * n, [0] * n
    hists: list[dict | None] = [None] * n
    per_label: dict[str, list[int]] = defaultdict(lambda: [0] * n)
    rows = _rollups(
        model_name=model_name,
        start=buckets.start,
        end=buckets.end,
        granularity=buckets.granularity,
    )
    for r in rows:
        i = buckets.index(r.bucket_start)
        if i is None:
            continue
        requests[i] += r.requests
        errors[i] += r.errors
        server_errors[i] += r.server_errors
        outliers[i] += r.outliers
        if r.latency_buckets:
            hists[i] = latency.merge([h for h in (hists[i], r.latency_buckets) if h])
        for label, count in (r.predictions or {}).items():
            per_label[label][i] += count

    def rate(part: list[int], whole: list[int]) -> list[float | None]:
        return [p / w if w else None for p, w in zip(part, whole, strict=True)]

    handled = [r + e for r, e in zip(requests, errors, strict=True)]
    series = {
        "time": [_chart_time(t) for t in buckets.starts],
        "range": [_chart_time(buckets.start), _chart_time(buckets.end)],
        "step_ms": int(buckets.step.total_seconds() * 1000),
        "partial_from": buckets.partial_from,
        "requests": requests,
        "errors": errors,
        "error_rate": rate(errors, handled),
        "server_error_rate": rate(server_errors, handled),
        "outlier_rate": rate(outliers, requests),
        "labels": {label: per_label[label] for label in sorted(per_label)},
        "granularity": buckets.granularity,
    }
    for q, key in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
        series[key] = [latency.percentile(h, q) if h else None for h in hists]
    present = [h for h in hists if h]
    series["totals"] = {
        "requests": sum(requests),
        "errors": sum(errors),
        "server_errors": sum(server_errors),
        "p95": latency.percentile(latency.merge(present), 0.95) if present else None,
    }
    return series


def latest_reports(*, model_name: str, limit: int = 20) -> QuerySet[Report]:
    return (
        Report.objects.filter(model_name=model_name)
        .select_related("monitor")
        .defer("summary")
        .order_by("-window_end", "-id")[:limit]
    )


def drift_history(*, model_name: str, start: datetime, limit: int = 1000) -> dict:
    """Drift share and per-column drift of the model's window reports that
    ended since ``start`` (the 12 columns that came closest to drift).

    Columns are scored on one scale (``charts.drift_ratio``: 1 is the
    column's threshold), so a text column's classifier AUC and numeric
    Wasserstein distances share one axis; the raw score, method and threshold
    go with each point for the hover text."""
    reports = list(
        Report.objects.filter(
            model_name=model_name,
            status=ReportStatus.SUCCEEDED,
            kind__in=[ReportKind.SCHEDULED, ReportKind.ON_DEMAND],
            window_end__gt=start,
        )
        .order_by("-window_end")
        .values("window_end", "drift_share", "summary")[:limit]
    )
    reports.reverse()
    n = len(reports)
    ratios: dict[str, list] = {}
    raw: dict[str, list] = {}
    for i, r in enumerate(reports):
        for c in (r["summary"] or {}).get("columns", []):
            if c.get("group") not in ("feature", "descriptor", "prediction"):
                continue
            name = c["column"]
            ratios.setdefault(name, [None] * n)[i] = drift_ratio(
                c.get("method", ""), c.get("score"), c.get("threshold") or 0
            )
            if c.get("score") is not None:
                raw.setdefault(name, [None] * n)[i] = (
                    f"{c['score']:.4g} ({c['method']}, drift "
                    f"{'below' if _p_value(c['method']) else 'from'} "
                    f"{c['threshold']:g})"
                )
    # the columns that came closest to (or past) drift, so the chart stays legible
    top = sorted(ratios, key=lambda c: max((v or 0) for v in ratios[c]), reverse=True)[
        :12
    ]
    return {
        "time": [_chart_time(r["window_end"]) for r in reports],
        "share": [r["drift_share"] for r in reports],
        "limit": (reports[-1]["summary"] or {}).get("feature_drift", {}).get("limit")
        if reports
        else None,
        "columns": {c: ratios[c] for c in top},
        "scores": {c: raw.get(c, [None] * n) for c in top},
    }


def _p_value(method: str) -> bool:
    spec = METHODS.get(method)
    return bool(spec and spec.score_kind == "p_value")


def performance_history(*, model_name: str, start: datetime, limit: int = 1000) -> dict:
    """Metrics and label coverage of the prediction windows since ``start``."""
    windows = list(
        PerformanceWindow.objects.filter(
            monitor__model_name=model_name, window_start__gte=start
        )
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
        "time": [_chart_time(w["window_start"]) for w in windows],
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
