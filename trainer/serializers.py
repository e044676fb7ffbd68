from rest_framework import serializers

from trainer.models import RetrainingRun


class RunOutput(serializers.ModelSerializer):
    """A retraining run as the API shows it."""

    duration_seconds = serializers.FloatField(allow_null=True)
    requested_by = serializers.SerializerMethodField()
    alert_id = serializers.SerializerMethodField()

    class Meta:
        model = RetrainingRun
        fields = [
            "id",
            "model_name",
            "trigger",
            "trigger_key",
            "alert_id",
            "requested_by",
            "status",
            "progress",
            "created_at",
            "started_at",
            "finished_at",
            "duration_seconds",
            "model_version",
            "tests_passed",
            "metrics",
            "data",
            "promotion_request",
            "error",
        ]

    def get_requested_by(self, obj) -> str | None:
        return obj.requested_by.get_username() if obj.requested_by else None

    def get_alert_id(self, obj) -> int | None:
        return (obj.trigger_detail or {}).get("alert_id")


class RunLogOutput(RunOutput):
    """A run with the trainer's output."""

    class Meta(RunOutput.Meta):
        fields = [*RunOutput.Meta.fields, "log"]


class RunListQuery(serializers.Serializer):
    alert = serializers.IntegerField(
        required=False, min_value=1, help_text="Only the run an alert started."
    )
