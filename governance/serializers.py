"""Input and output shapes of the governance API.

Inputs list only what a client may set: anything else in the body (status,
requester, approvals, timestamps, ...) is ignored, never stored.
"""

from __future__ import annotations

from rest_framework import serializers

from governance.choices import Stage
from governance.models import (
    Approval,
    AuditEvent,
    ModelVersion,
    PromotionPolicy,
    PromotionRequest,
    RegisteredModel,
)


# ------------------------------------------------------------------ inputs
class RequestCreateInput(serializers.Serializer):
    model = serializers.CharField(max_length=256, help_text="Registered model name.")
    version = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
    target = serializers.ChoiceField(choices=Stage.choices)
    justification = serializers.CharField(max_length=4000)


class DecisionInput(serializers.Serializer):
    comment = serializers.CharField(max_length=4000, required=False, allow_blank=True)
    evidence_digest = serializers.RegexField(
        r"^[0-9a-f]{64}$",
        required=False,
        help_text="Digest of the evidence you reviewed; refused if it changed since.",
    )


class RejectInput(serializers.Serializer):
    comment = serializers.CharField(max_length=4000)


class CancelInput(serializers.Serializer):
    reason = serializers.CharField(max_length=4000, required=False, allow_blank=True)


class RollbackInput(serializers.Serializer):
    justification = serializers.CharField(max_length=4000)


class AliasHistoryQuery(serializers.Serializer):
    at = serializers.DateTimeField(
        required=False, help_text="Answer only for this instant (ISO 8601)."
    )


class AuditQuery(serializers.Serializer):
    model = serializers.CharField(max_length=256, required=False)
    kind = serializers.CharField(max_length=32, required=False)
    request = serializers.IntegerField(min_value=1, required=False)
    since = serializers.DateTimeField(required=False)


class RequestListQuery(serializers.Serializer):
    status = serializers.CharField(max_length=16, required=False)
    model = serializers.CharField(max_length=256, required=False)
    target = serializers.ChoiceField(choices=Stage.choices, required=False)
    awaiting_me = serializers.BooleanField(required=False, default=False)


# ----------------------------------------------------------------- outputs
class ApprovalOutput(serializers.ModelSerializer):
    approver = serializers.CharField(source="approver.username")

    class Meta:
        model = Approval
        fields = [
            "approver",
            "decision",
            "comment",
            "evidence_digest",
            "is_stale",
            "created_at",
            "updated_at",
        ]


class PolicyRef(serializers.ModelSerializer):
    approver_group = serializers.CharField(source="approver_group.name")

    class Meta:
        model = PromotionPolicy
        fields = ["id", "target", "version", "approver_group", "approvals_required"]


class PolicyOutput(serializers.ModelSerializer):
    approver_group = serializers.CharField(source="approver_group.name")

    class Meta:
        model = PromotionPolicy
        fields = [
            "id",
            "target",
            "version",
            "is_active",
            "approver_group",
            "approvals_required",
            "requester_may_approve",
            "superuser_may_approve",
            "required_checks",
            "metric_gates",
            "evaluation_set",
            "expiry_hours",
            "min_staging_minutes",
            "emergency_confirm_hours",
            "note",
            "created_at",
        ]


class RequestOutput(serializers.ModelSerializer):
    model = serializers.CharField(source="registered_model.name")
    version = serializers.IntegerField(source="model_version.version")
    requester = serializers.CharField(source="requester.username")
    confirmed_by = serializers.CharField(
        source="confirmed_by.username", allow_null=True, default=None
    )
    policy = PolicyRef()
    approvals = ApprovalOutput(many=True)

    class Meta:
        model = PromotionRequest
        fields = [
            "id",
            "model",
            "version",
            "target",
            "kind",
            "status",
            "checks_status",
            "requester",
            "justification",
            "policy",
            "approvals",
            "evidence",
            "evidence_digest",
            "checks_run_at",
            "expires_at",
            "decided_at",
            "from_version",
            "apply_attempts",
            "apply_error",
            "applied_at",
            "confirm_by",
            "confirmed_at",
            "confirmed_by",
            "created_at",
            "updated_at",
        ]


class AuditEventOutput(serializers.ModelSerializer):
    request = serializers.IntegerField(source="request_ref", allow_null=True)

    class Meta:
        model = AuditEvent
        fields = [
            "sequence",
            "created_at",
            "kind",
            "actor",
            "model_name",
            "alias",
            "version",
            "request",
            "payload",
            "prev_hash",
            "hash",
        ]


class AliasSegmentOutput(serializers.Serializer):
    alias = serializers.CharField()
    version = serializers.IntegerField(allow_null=True)
    start = serializers.DateTimeField()
    end = serializers.DateTimeField(allow_null=True)
    event_sequence = serializers.IntegerField()
    kind = serializers.CharField()
    actor = serializers.CharField()
    by_modelgate = serializers.BooleanField()
    request_id = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField(allow_blank=True)
    approved_by = serializers.ListField(child=serializers.CharField())
    policy = serializers.JSONField(allow_null=True)


class AliasHistoryOutput(serializers.Serializer):
    model = serializers.CharField()
    alias = serializers.CharField()
    at = serializers.DateTimeField(allow_null=True)
    held = AliasSegmentOutput(allow_null=True)
    timeline = AliasSegmentOutput(many=True)


class VersionOutput(serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = [
            "version",
            "run_id",
            "mlflow_status",
            "test_status",
            "metrics",
            "tags",
            "registered_by",
            "registered_at",
        ]


class ModelOutput(serializers.ModelSerializer):
    aliases = serializers.SerializerMethodField()
    versions = VersionOutput(many=True)

    class Meta:
        model = RegisteredModel
        fields = [
            "name",
            "description",
            "task",
            "aliases",
            "versions",
            "last_synced_at",
        ]

    def get_aliases(self, obj) -> dict[str, int]:
        return {link.alias: link.version.version for link in obj.aliases.all()}


class WebhookOutput(serializers.Serializer):
    status = serializers.CharField()
    delivery_id = serializers.CharField()
