"""Server-rendered monitoring pages. They read rollups and reports through
the selectors, never the raw prediction log."""

from __future__ import annotations

from datetime import UTC

from django.contrib import messages
from django.contrib.auth.mixins import AccessMixin
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views import View
from django.views.generic import TemplateView

from core.exceptions import ApplicationError
from inference import selectors as inference_selectors
from monitoring import selectors
from monitoring.calculations.charts import SPANS, span_hours
from monitoring.choices import ModelHealth
from monitoring.models import Alert, Monitor, Report
from monitoring.permissions import can_operate, can_view
from monitoring.services.alerts import alert_acknowledge, alert_snooze
from monitoring.services.reports import report_compare, report_request

OPERATE_DENIED = (
    "Running reports and acknowledging or snoozing alerts is for ops and "
    "administrators; the dashboards and reports stay readable."
)


class ViewerRequired(AccessMixin):
    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if not can_view(request.user):
            raise PermissionDenied(
                "Monitoring pages are for people with a role (viewers, ops, data "
                "scientists, approvers); API client accounts read the API instead."
            )
        return super().dispatch(request, *args, **kwargs)


class OperatorRequired(AccessMixin):
    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if not can_operate(request.user):
            raise PermissionDenied(OPERATE_DENIED)
        return super().dispatch(request, *args, **kwargs)


class OverviewView(ViewerRequired, TemplateView):
    """Every model with its status badge, traffic and open alerts."""

    template_name = "monitoring/overview.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        rows = selectors.model_overview()
        context["models"] = rows
        context["badges"] = {h.value: h.label for h in ModelHealth}
        context["chart"] = {
            "names": [r["name"] for r in rows],
            "requests": [r["requests_24h"] for r in rows],
            "errors": [r["errors_24h"] for r in rows],
        }
        return context


class ModelDashboardView(ViewerRequired, TemplateView):
    """Traffic, latency, errors, drift, performance, outliers, predictions,
    reports and alerts of one model, over a chosen span."""

    template_name = "monitoring/model.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        name = self.kwargs["name"]
        span, _ = span_hours(self.request.GET.get("span"))
        buckets = selectors.chart_buckets(span=span)
        health, latest = selectors.model_health(model_name=name)
        from governance.selectors import model_aliases

        monitors = list(Monitor.objects.filter(model_name=name))
        context.update(
            {
                "name": name,
                "span": span,
                "spans": list(SPANS),
                "granularity": buckets.granularity,
                "health": health,
                "health_label": ModelHealth(health).label,
                "latest": latest,
                "aliases": model_aliases(name=name),
                "governance_url": selectors.governance_model_url(name),
                "monitors": monitors,
                "reports": selectors.latest_reports(model_name=name),
                "alerts": selectors.active_alerts(model_name=name),
                "can_operate": can_operate(self.request.user),
                "charts": {
                    "traffic": selectors.traffic_series(
                        model_name=name, buckets=buckets
                    ),
                    "drift": selectors.drift_history(
                        model_name=name, start=buckets.start
                    ),
                    "performance": selectors.performance_history(
                        model_name=name, start=buckets.start
                    ),
                },
            }
        )
        context["top_outliers"] = (
            (latest.summary or {}).get("outliers", {}).get("top", []) if latest else []
        )
        return context


class ReportDetailView(ViewerRequired, TemplateView):
    template_name = "monitoring/report.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        report = get_object_or_404(
            Report.objects.select_related("monitor"), pk=self.kwargs["pk"]
        )
        summary = report.summary or {}
        context.update(
            {
                "report": report,
                "summary": summary,
                "columns": summary.get("columns", []),
                "quality": summary.get("quality", {}),
                "performance": summary.get("performance", {}),
                "outliers": summary.get("outliers", {}),
                "running": report.status in ("pending", "running"),
            }
        )
        return context


class ReportHtmlView(ViewerRequired, View):
    """Evidently's HTML report of a report (read from the shared storage)."""

    def get(self, request, pk):
        report = get_object_or_404(Report, pk=pk)
        if not report.html_file:
            raise Http404("this report has no HTML file")
        try:
            handle = report.html_file.open("rb")
        except FileNotFoundError as exc:
            raise Http404("the HTML file is missing") from exc
        response = FileResponse(handle, content_type="text/html; charset=utf-8")
        response["X-Frame-Options"] = "SAMEORIGIN"
        return response


class CompareView(ViewerRequired, TemplateView):
    """Compare two versions or two windows of a model (creates a comparison
    report and shows its progress)."""

    template_name = "monitoring/compare.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        name = self.kwargs["name"]
        from governance.selectors import registered_model_get

        model = registered_model_get(name=name)
        context.update(
            {
                "name": name,
                "monitors": Monitor.objects.filter(model_name=name),
                "versions": [v.version for v in model.versions.all()] if model else [],
                "can_operate": can_operate(self.request.user),
            }
        )
        return context

    def post(self, request, name):
        if not can_operate(request.user):
            raise PermissionDenied(OPERATE_DENIED)
        monitor = get_object_or_404(
            Monitor, pk=request.POST.get("monitor"), model_name=name
        )

        def when(key):
            value = request.POST.get(key) or ""
            parsed = parse_datetime(value) if value else None
            if parsed is not None and timezone.is_naive(parsed):
                parsed = timezone.make_aware(parsed, UTC)
            return parsed

        def number(key):
            value = request.POST.get(key) or ""
            return int(value) if value.isdigit() else None

        try:
            start, end = when("current_start"), when("current_end")
            if start is None or end is None:
                raise ApplicationError("give the current window's start and end")
            if request.POST.get("mode") == "window":
                report, _ = report_request(
                    monitor=monitor, start=start, end=end, user=request.user
                )
            else:
                report, _ = report_compare(
                    monitor=monitor,
                    current_version=number("current_version"),
                    current_start=start,
                    current_end=end,
                    reference_version=number("reference_version"),
                    reference_start=when("reference_start"),
                    reference_end=when("reference_end"),
                    user=request.user,
                )
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(
                reverse("monitoring:compare", kwargs={"name": name})
            )
        return HttpResponseRedirect(
            reverse("monitoring:report-detail", kwargs={"pk": report.pk})
        )


class AlertActionView(OperatorRequired, View):
    """Acknowledge or snooze an alert from the dashboard (POST, CSRF)."""

    action = "acknowledge"

    def post(self, request, pk):
        alert = get_object_or_404(Alert, pk=pk)
        try:
            if self.action == "acknowledge":
                alert_acknowledge(alert=alert, user=request.user)
                messages.success(request, f"Alert {alert.pk} acknowledged.")
            else:
                minutes = request.POST.get("minutes", "60")
                alert_snooze(
                    alert=alert,
                    minutes=int(minutes) if minutes.isdigit() else 0,
                    user=request.user,
                )
                messages.success(request, f"Alert {alert.pk} snoozed.")
        except ApplicationError as exc:
            messages.error(request, exc.message)
        return HttpResponseRedirect(
            reverse("monitoring:model-dashboard", kwargs={"name": alert.model_name})
        )


class PredictionDetailView(ViewerRequired, TemplateView):
    """One logged request (linked from the top outliers of a report)."""

    template_name = "monitoring/prediction.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        row = inference_selectors.prediction_get(
            prediction_id=str(self.kwargs["prediction_id"])
        )
        if row is None:
            raise Http404("no such prediction")
        context["p"] = row
        return context
