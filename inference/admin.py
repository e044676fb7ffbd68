"""Admin: the log and feedback read-only; batch jobs and request errors to
look at; API tokens are managed by DRF's own Token admin."""

from django.contrib import admin

from core.roles import Role
from inference.models import (
    BatchJob,
    Feedback,
    FeedbackHistory,
    PrecomputedPrediction,
    PredictionLog,
    RequestError,
    StoredResponse,
)


def _is_ops(user) -> bool:
    """On-call people read the log, feedback and errors while they
    investigate an alert (docs/ops-monitoring.md)."""
    return bool(
        getattr(user, "is_active", False)
        and getattr(user, "is_staff", False)
        and user.groups.filter(name=Role.OPS).exists()
    )


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_module_permission(self, request):
        return super().has_module_permission(request) or _is_ops(request.user)

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or _is_ops(request.user)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PredictionLog)
class PredictionLogAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "model_name",
        "model_version",
        "source",
        "prediction",
        "is_outlier",
        "client",
        "latency_ms",
    ]
    list_filter = ["model_name", "source", "is_outlier"]
    search_fields = ["prediction_id", "request_id"]
    show_full_result_count = False  # no COUNT(*) over the whole log


@admin.register(Feedback)
class FeedbackAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "prediction", "label", "client"]
    raw_id_fields = ["prediction"]


@admin.register(FeedbackHistory)
class FeedbackHistoryAdmin(ReadOnlyAdmin):
    list_display = [
        "changed_at",
        "feedback",
        "previous_label",
        "new_label",
        "changed_by",
    ]


@admin.register(RequestError)
class RequestErrorAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "model_name",
        "model_version",
        "source",
        "status_code",
        "code",
        "client",
    ]
    list_filter = ["model_name", "status_code", "code", "source"]


@admin.register(StoredResponse)
class StoredResponseAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "scope", "request_id", "model_name", "model_version"]
    search_fields = ["request_id"]


@admin.register(BatchJob)
class BatchJobAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "id",
        "model_name",
        "model_version",
        "status",
        "rows_done",
        "rows_total",
        "rows_failed",
        "client",
        "schedule_name",
        "key_column",
    ]
    list_filter = ["status", "model_name"]


@admin.register(PrecomputedPrediction)
class PrecomputedPredictionAdmin(ReadOnlyAdmin):
    list_display = [
        "model_name",
        "model_version",
        "key",
        "prediction",
        "is_outlier",
        "computed_at",
        "expires_at",
    ]
    list_filter = ["model_name", "model_version"]
    search_fields = ["key"]
    show_full_result_count = False
