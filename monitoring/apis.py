"""REST API of monitoring: monitors, on-demand reports with progress,
comparisons, alerts (acknowledge, snooze)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from monitoring import selectors
from monitoring.models import Alert, Monitor, Report
from monitoring.permissions import CanView
from monitoring.services.alerts import alert_acknowledge, alert_snooze
from monitoring.services.reports import report_compare, report_request


class MonitorOut(serializers.ModelSerializer):
    class Meta:
        model = Monitor
        fields = [
            "id", "name", "model_name", "alias", "model_version", "enabled",
            "schedule", "window_minutes", "num_method", "num_threshold",
            "cat_method", "cat_threshold", "text_method", "text_threshold",
            "drift_share", "min_rows", "max_rows",
        ]  # fmt: skip


class ReportOut(serializers.ModelSerializer):
    html_url = serializers.SerializerMethodField()

    class Meta:
        model = Report
        fields = [
            "id", "monitor", "kind", "model_name", "model_version",
            "reference_version", "reference_start", "reference_end",
            "window_start", "window_end", "status", "attempts", "progress",
            "progress_message", "rows", "drift_share", "health", "error",
            "summary", "html_url", "created_at", "finished_at",
        ]  # fmt: skip

    def get_html_url(self, obj) -> str | None:
        from django.urls import reverse

        if not obj.html_file:
            return None
        return reverse("monitoring:report-html", kwargs={"pk": obj.pk})


class WindowIn(serializers.Serializer):
    window_start = serializers.DateTimeField()
    window_end = serializers.DateTimeField()


class CompareIn(serializers.Serializer):
    window_start = serializers.DateTimeField(help_text="Current side: window start.")
    window_end = serializers.DateTimeField(help_text="Current side: window end.")
    version = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        help_text="Current side: version (default: the monitor's).",
    )
    reference_version = serializers.IntegerField(
        required=False, allow_null=True, min_value=1
    )
    reference_start = serializers.DateTimeField(required=False, allow_null=True)
    reference_end = serializers.DateTimeField(required=False, allow_null=True)


class AlertOut(serializers.ModelSerializer):
    rule = serializers.CharField(source="rule.kind")

    class Meta:
        model = Alert
        fields = [
            "id", "rule", "model_name", "model_version", "severity", "status",
            "title", "value", "occurrences", "opened_at", "last_seen_at",
            "acknowledged_at", "snoozed_until", "resolved_at", "report",
        ]  # fmt: skip


class SnoozeIn(serializers.Serializer):
    minutes = serializers.IntegerField(min_value=1, max_value=43200)


class MonitorListApi(APIView):
    permission_classes = [CanView]

    @extend_schema(responses=MonitorOut(many=True))
    def get(self, request):
        return Response(MonitorOut(Monitor.objects.all(), many=True).data)


class ReportRunApi(APIView):
    """Run a report now for any window of a monitor (202 with its progress)."""

    permission_classes = [CanView]

    @extend_schema(request=WindowIn, responses={202: ReportOut, 200: ReportOut})
    def post(self, request, pk):
        monitor = get_object_or_404(Monitor, pk=pk)
        data = WindowIn(data=request.data)
        data.is_valid(raise_exception=True)
        report, created = report_request(
            monitor=monitor,
            start=data.validated_data["window_start"],
            end=data.validated_data["window_end"],
            user=request.user,
        )
        return Response(
            ReportOut(report).data,
            status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK,
        )


class CompareApi(APIView):
    """Compare two versions or two windows (a comparison report)."""

    permission_classes = [CanView]

    @extend_schema(request=CompareIn, responses={202: ReportOut, 200: ReportOut})
    def post(self, request, pk):
        monitor = get_object_or_404(Monitor, pk=pk)
        data = CompareIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        report, created = report_compare(
            monitor=monitor,
            current_version=v.get("version"),
            current_start=v["window_start"],
            current_end=v["window_end"],
            reference_version=v.get("reference_version"),
            reference_start=v.get("reference_start"),
            reference_end=v.get("reference_end"),
            user=request.user,
        )
        return Response(
            ReportOut(report).data,
            status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK,
        )


class ReportDetailApi(APIView):
    """A report: status and progress while it runs, the summary when done."""

    permission_classes = [CanView]

    @extend_schema(responses=ReportOut)
    def get(self, request, pk):
        return Response(ReportOut(get_object_or_404(Report, pk=pk)).data)


class AlertListApi(APIView):
    permission_classes = [CanView]

    @extend_schema(responses=AlertOut(many=True))
    def get(self, request):
        model = request.query_params.get("model")
        alerts = selectors.active_alerts(model_name=model)[:500]
        return Response(AlertOut(alerts, many=True).data)


class AlertAcknowledgeApi(APIView):
    permission_classes = [CanView]

    @extend_schema(request=None, responses=AlertOut)
    def post(self, request, pk):
        alert = alert_acknowledge(
            alert=get_object_or_404(Alert, pk=pk), user=request.user
        )
        return Response(AlertOut(alert).data)


class AlertSnoozeApi(APIView):
    permission_classes = [CanView]

    @extend_schema(request=SnoozeIn, responses=AlertOut)
    def post(self, request, pk):
        data = SnoozeIn(data=request.data)
        data.is_valid(raise_exception=True)
        alert = alert_snooze(
            alert=get_object_or_404(Alert, pk=pk),
            minutes=data.validated_data["minutes"],
            user=request.user,
        )
        return Response(AlertOut(alert).data)
