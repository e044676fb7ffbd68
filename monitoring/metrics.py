"""The Prometheus endpoint: the process metrics of core.metrics plus a
collector that reads monitoring's state from the database at scrape time.

Access (decided for scrapers): a bearer token (``MONITORING_METRICS_TOKEN``),
an address listed in ``MONITORING_METRICS_ALLOWED_IPS``, or a logged-in ops
or staff user. Anything else gets 401/403.
"""

from __future__ import annotations

from django.db.models import Count
from django.http import HttpResponse
from django.views import View
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client.core import GaugeMetricFamily

from monitoring.choices import ACTIVE_ALERT_STATUSES, ReportKind, ReportStatus


class MonitoringCollector:
    """Drift share, outlier rate, label coverage, open alerts and report job
    counts, read from the database on each scrape (a handful of small queries)."""

    def collect(self):
        from monitoring.models import Alert, Monitor, Report, RollupWatermark

        drift = GaugeMetricFamily(
            "modelgate_drift_share",
            "Share of drifted feature columns in the monitor's latest report.",
            labels=["model", "version", "monitor"],
        )
        outliers = GaugeMetricFamily(
            "modelgate_outlier_rate",
            "Share of flagged requests in the monitor's latest report.",
            labels=["model", "version", "monitor"],
        )
        coverage = GaugeMetricFamily(
            "modelgate_label_coverage",
            "Share of labelled predictions in the monitor's latest report.",
            labels=["model", "version", "monitor"],
        )
        health = GaugeMetricFamily(
            "modelgate_model_health",
            "1 for the model's current status badge.",
            labels=["model", "monitor", "status"],
        )
        for monitor in Monitor.objects.all():
            latest = (
                Report.objects.filter(
                    monitor=monitor,
                    status=ReportStatus.SUCCEEDED,
                    kind__in=[ReportKind.SCHEDULED, ReportKind.ON_DEMAND],
                )
                .order_by("-window_end")
                .only("summary", "model_version", "drift_share", "health")
                .first()
            )
            if latest is None:
                continue
            labels = [monitor.model_name, str(latest.model_version or ""), monitor.name]
            summary = latest.summary or {}
            if latest.drift_share is not None:
                drift.add_metric(labels, latest.drift_share)
            rate = summary.get("outliers", {}).get("rate")
            if rate is not None:
                outliers.add_metric(labels, rate)
            cover = summary.get("performance", {}).get("coverage")
            if cover is not None:
                coverage.add_metric(labels, cover)
            if latest.health:
                health.add_metric([monitor.model_name, monitor.name, latest.health], 1)
        yield from (drift, outliers, coverage, health)

        jobs = GaugeMetricFamily(
            "modelgate_report_jobs",
            "Report jobs by status.",
            labels=["status"],
        )
        counts = dict(
            Report.objects.values_list("status").annotate(n=Count("id")).order_by()
        )
        for status in ReportStatus.values:
            jobs.add_metric([status], counts.get(status, 0))
        yield jobs

        alerts = GaugeMetricFamily(
            "modelgate_alerts_active",
            "Open or acknowledged alerts by model and severity.",
            labels=["model", "severity"],
        )
        for model, severity, n in (
            Alert.objects.filter(status__in=ACTIVE_ALERT_STATUSES)
            .values_list("model_name", "severity")
            .annotate(n=Count("id"))
            .order_by()
        ):
            alerts.add_metric([model, severity], n)
        yield alerts

        mark = RollupWatermark.objects.filter(name="prediction_log").first()
        watermark = GaugeMetricFamily(
            "modelgate_rollup_last_id",
            "Last prediction-log id folded into the rollups.",
        )
        watermark.add_metric([], mark.last_id if mark else 0)
        yield watermark


def metrics_access(request) -> int | None:
    """None when the request may read /metrics, else the HTTP status to answer."""
    from core.metrics import scraper_access

    scraper = scraper_access(
        authorization=request.META.get("HTTP_AUTHORIZATION", ""),
        client_ip=request.META.get("REMOTE_ADDR", ""),
    )
    if scraper is not None:
        return None if scraper else 401
    user = request.user
    if not user.is_authenticated:
        return 401
    from monitoring.permissions import can_operate

    return None if (user.is_staff or can_operate(user)) else 403


class MetricsView(View):
    def get(self, request):
        from core.metrics import render_latest

        status = metrics_access(request)
        if status is not None:
            response = HttpResponse(
                "metrics need a bearer token or an ops login\n",
                status=status,
                content_type="text/plain",
            )
            if status == 401:
                response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        extra = CollectorRegistry()
        extra.register(MonitoringCollector())
        return HttpResponse(
            render_latest(extra=extra), content_type=CONTENT_TYPE_LATEST
        )
