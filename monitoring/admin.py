"""Admin: monitors with their alert rules (schedules kept in sync), reports
(read-only, with progress and the HTML link), alerts (acknowledge, snooze).

Ops see the three lists and use their actions (run a report, acknowledge and
snooze alerts); adding, editing and deleting monitors stays with
administrators (Django's model permissions)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from core.exceptions import ApplicationError
from monitoring.calculations.windows import last_complete_window
from monitoring.models import Alert, AlertRule, Monitor, ReferenceStatistics, Report
from monitoring.permissions import can_operate
from monitoring.services.alerts import alert_acknowledge, alert_snooze
from monitoring.services.monitors import monitor_delete, monitor_schedule_sync
from monitoring.services.reports import report_request


class OperatorViewMixin:
    """Ops may view (and run the actions of) what admins manage."""

    def has_module_permission(self, request):
        return super().has_module_permission(request) or can_operate(request.user)

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or can_operate(request.user)


class AlertRuleInline(OperatorViewMixin, admin.TabularInline):
    model = AlertRule
    extra = 0
    fields = [
        "kind",
        "severity",
        "threshold",
        "column",
        "metric",
        "minutes",
        "count_client_errors",
        "enabled",
    ]


class WindowForm(forms.Form):
    window_start = forms.DateTimeField(help_text="UTC, e.g. 2026-11-25 10:00")
    window_end = forms.DateTimeField(help_text="UTC")


@admin.register(Monitor)
class MonitorAdmin(OperatorViewMixin, admin.ModelAdmin):
    list_display = [
        "name", "model_name", "alias", "model_version", "enabled", "schedule",
        "window_minutes", "num_method", "cat_method", "text_method",
    ]  # fmt: skip
    list_filter = ["enabled", "model_name"]
    search_fields = ["name", "model_name"]
    inlines = [AlertRuleInline]
    actions = ["run_last_window", "run_window"]
    readonly_fields = ["periodic_task"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fieldsets = [
        (None, {"fields": ["name", "model_name", "alias", "model_version", "enabled"]}),
        (
            "Schedule and window",
            {"fields": ["schedule", "window_minutes", "periodic_task"]},
        ),
        (
            "Drift methods (pinned)",
            {
                "fields": [
                    ("num_method", "num_threshold"),
                    ("cat_method", "cat_threshold"),
                    ("text_method", "text_threshold"),
                    "column_overrides",
                    "drift_share",
                ]
            },
        ),
        (
            "Samples",
            {
                "fields": [
                    "min_rows", "max_rows", "text_sample_rows", "html_report",
                    "max_text_length",
                ]
            },
        ),
        (
            "Performance",
            {"fields": ["min_label_coverage", "min_labels", "performance_margin"]},
        ),
        ("Notifications", {"fields": ["recipients", "webhook_url", "webhook_secret"]}),
    ]  # fmt: skip

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        monitor_schedule_sync(monitor=obj)

    def delete_model(self, request, obj):
        monitor_delete(monitor=obj)

    def delete_queryset(self, request, queryset):
        for monitor in queryset:
            monitor_delete(monitor=monitor)

    @admin.action(description="Run a report now for the last complete window")
    def run_last_window(self, request, queryset):
        for monitor in queryset:
            start, end = last_complete_window(timezone.now(), monitor.window_minutes)
            self._run(request, monitor, start, end)

    @admin.action(description="Run a report now for a chosen window…")
    def run_window(self, request, queryset):
        if "apply" in request.POST:
            form = WindowForm(request.POST)
            if form.is_valid():
                for monitor in queryset:
                    self._run(
                        request,
                        monitor,
                        form.cleaned_data["window_start"],
                        form.cleaned_data["window_end"],
                    )
                return None
        else:
            form = WindowForm()
        return TemplateResponse(
            request,
            "monitoring/admin/run_window.html",
            {
                **self.admin_site.each_context(request),
                "title": "Run a report for a window",
                "monitors": queryset,
                "form": form,
                "action": "run_window",
                "opts": self.model._meta,
            },
        )

    def _run(self, request, monitor, start, end):
        try:
            report, created = report_request(
                monitor=monitor, start=start, end=end, user=request.user
            )
        except ApplicationError as exc:
            self.message_user(request, f"{monitor}: {exc.message}", messages.ERROR)
            return
        url = reverse("monitoring:report-detail", kwargs={"pk": report.pk})
        verb = "started" if created else f"exists ({report.status})"
        self.message_user(
            request,
            format_html(
                '{}: report <a href="{}">{}</a> {}', monitor, url, report.pk, verb
            ),
        )


@admin.register(Report)
class ReportAdmin(OperatorViewMixin, admin.ModelAdmin):
    list_display = [
        "id", "monitor", "kind", "window_start", "window_end", "model_version",
        "status", "progress", "attempts", "rows", "drift_share", "health", "html",
    ]  # fmt: skip
    list_filter = ["status", "kind", "health", "model_name"]
    date_hierarchy = "window_end"
    readonly_fields = [f.name for f in Report._meta.fields] + ["html"]

    @admin.display(description="HTML")
    def html(self, obj):
        if not obj.html_file:
            return "–"
        url = reverse("monitoring:report-html", kwargs={"pk": obj.pk})
        return format_html('<a href="{}">Evidently report</a>', url)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Alert)
class AlertAdmin(OperatorViewMixin, admin.ModelAdmin):
    list_display = [
        "id", "severity", "status", "title", "model_name", "occurrences",
        "opened_at", "last_seen_at", "snoozed_until", "resolved_at",
    ]  # fmt: skip
    list_filter = ["status", "severity", "model_name"]
    readonly_fields = [f.name for f in Alert._meta.fields]
    actions = ["acknowledge", "snooze_hour", "snooze_day"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Acknowledge")
    def acknowledge(self, request, queryset):
        for alert in queryset:
            try:
                alert_acknowledge(alert=alert, user=request.user)
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.WARNING)

    def _snooze(self, request, queryset, minutes):
        for alert in queryset:
            try:
                alert_snooze(alert=alert, minutes=minutes, user=request.user)
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.WARNING)

    @admin.action(description="Snooze for 1 hour")
    def snooze_hour(self, request, queryset):
        self._snooze(request, queryset, 60)

    @admin.action(description="Snooze for 1 day")
    def snooze_day(self, request, queryset):
        self._snooze(request, queryset, 60 * 24)


@admin.register(ReferenceStatistics)
class ReferenceStatisticsAdmin(admin.ModelAdmin):
    """Stored reference statistics, read-only; deleting a row makes the next
    report of that version compute them again."""

    list_display = ("model_name", "model_version", "config_key", "created_at")
    list_filter = ("model_name",)
    exclude = ("statistics",)
    readonly_fields = ("model_name", "model_version", "config_key", "created_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
