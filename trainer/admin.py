"""Retraining policies (edited here, every change audited) and their runs
(read-only: runs are started by triggers or the API)."""

from django.contrib import admin

from trainer.models import RetrainingPolicy, RetrainingRun
from trainer.retraining import retraining_policy_save


@admin.register(RetrainingPolicy)
class RetrainingPolicyAdmin(admin.ModelAdmin):
    list_display = (
        "model_name",
        "enabled",
        "action",
        "schedule_hours",
        "alert_kinds",
        "min_new_labels",
        "min_gap_minutes",
    )
    list_filter = ("enabled", "action")
    search_fields = ("model_name",)
    autocomplete_fields = ()
    raw_id_fields = ("requester",)

    def save_model(self, request, obj, form, change):
        retraining_policy_save(policy=obj, user=request.user, via="admin-form")

    def has_delete_permission(self, request, obj=None):
        return False  # runs refer to it; disable the policy instead


@admin.register(RetrainingRun)
class RetrainingRunAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "model_name",
        "trigger",
        "status",
        "model_version",
        "promotion_request",
        "started_at",
        "finished_at",
    )
    list_filter = ("status", "trigger", "model_name")
    search_fields = ("model_name", "trigger_key")
    readonly_fields = [f.name for f in RetrainingRun._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
