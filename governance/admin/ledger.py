"""The audit ledger and webhook deliveries: read-only in the admin."""

from __future__ import annotations

from django.contrib import admin

from governance import permissions
from governance.admin.base import ReadOnlyGovernanceAdmin
from governance.models import AuditEvent, WebhookDelivery


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyGovernanceAdmin):
    """No add, change or delete permission for anyone, superusers included."""

    list_display = [
        "sequence",
        "created_at",
        "kind",
        "actor",
        "model_name",
        "alias",
        "version",
        "request_ref",
    ]
    list_filter = ["kind"]
    search_fields = ["model_name", "actor", "alias"]
    ordering = ["-sequence"]
    readonly_fields = [
        "sequence",
        "created_at",
        "kind",
        "actor",
        "actor_id",
        "model_name",
        "alias",
        "version",
        "request_ref",
        "payload",
        "prev_hash",
        "hash",
    ]
    actions = None

    def get_actions(self, request):
        return {}


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyGovernanceAdmin):
    list_display = [
        "delivery_id",
        "entity",
        "action",
        "model_name",
        "sent_at",
        "created_at",
    ]
    list_filter = ["entity", "action"]
    search_fields = ["delivery_id", "model_name"]
    readonly_fields = [
        "delivery_id",
        "entity",
        "action",
        "model_name",
        "sent_at",
        "payload",
        "created_at",
    ]
    actions = None

    def has_module_permission(self, request) -> bool:
        return permissions.can_view(request.user)
