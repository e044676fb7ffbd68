"""Request and response shapes of the inference API (also its OpenAPI schema)."""

from __future__ import annotations

from rest_framework import serializers

from inference.logrows import CLIENT_COLUMNS
from inference.models import BatchJob, PredictionLog


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False
    )


class ErrorSerializer(serializers.Serializer):
    """Every 4xx/5xx body: ``{"error": {"code", "message", "fields"}}``."""

    error = ErrorDetailSerializer()


class DataframeSplitSerializer(serializers.Serializer):
    columns = serializers.ListField(child=serializers.CharField())
    data = serializers.ListField(child=serializers.ListField())
    index = serializers.ListField(required=False)


class KeyedRowSerializer(serializers.Serializer):
    """A row asked for by entity key (hybrid serving): a key, its inputs, or
    both."""

    key = serializers.CharField(
        max_length=256,
        required=False,
        help_text="Entity key of a precomputed prediction.",
    )
    inputs = serializers.DictField(
        required=False,
        help_text="The row's inputs: checked against the entry, or predicted "
        "online when there is no fresh entry.",
    )


class PredictRequestSerializer(serializers.Serializer):
    """Give exactly one of the row containers. ``inputs`` is Modelgate's own
    format (a list of row objects); the others are MLflow's scoring formats."""

    inputs = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text='Rows as objects: [{"message": "..."}, ...]',
    )
    dataframe_records = serializers.ListField(
        child=serializers.DictField(), required=False
    )
    dataframe_split = DataframeSplitSerializer(required=False)
    instances = serializers.ListField(child=serializers.DictField(), required=False)
    params = serializers.DictField(required=False, help_text="Accepted and ignored.")
    keyed = KeyedRowSerializer(
        many=True,
        required=False,
        help_text="Rows by entity key (hybrid serving), alone in the body.",
    )


class PredictionRowSerializer(serializers.Serializer):
    prediction_id = serializers.UUIDField()
    label = serializers.JSONField(help_text="Predicted class (or value).")
    probabilities = serializers.DictField(
        child=serializers.FloatField(),
        allow_null=True,
        help_text="Probability per class, when the model has them.",
    )
    is_outlier = serializers.BooleanField(allow_null=True)
    outlier_score = serializers.FloatField(allow_null=True)
    key = serializers.CharField(
        required=False,
        allow_null=True,
        help_text="Keyed requests: the row's entity key (or null).",
    )
    source = serializers.ChoiceField(
        choices=["precomputed", "online"],
        required=False,
        help_text="Keyed requests: answered from the precomputed store or online.",
    )
    computed_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="Keyed requests: when the precomputed entry was computed.",
    )


class PredictResponseSerializer(serializers.Serializer):
    model_name = serializers.CharField()
    model_version = serializers.IntegerField()
    alias = serializers.CharField(
        help_text="Alias asked for; blank if a version was named."
    )
    request_id = serializers.CharField()
    predictions = PredictionRowSerializer(many=True)


class InvocationsResponseSerializer(serializers.Serializer):
    """MLflow's scoring-server response."""

    predictions = serializers.ListField(child=serializers.JSONField())


class FeedbackRequestSerializer(serializers.Serializer):
    label = serializers.JSONField(
        help_text="The true label: one of the model's classes."
    )


class FeedbackResponseSerializer(serializers.Serializer):
    prediction_id = serializers.UUIDField()
    label = serializers.JSONField()
    status = serializers.ChoiceField(choices=["created", "replaced", "unchanged"])


class FeedbackItemSerializer(serializers.Serializer):
    prediction_id = serializers.CharField()
    label = serializers.JSONField()


class BulkFeedbackRequestSerializer(serializers.Serializer):
    items = FeedbackItemSerializer(many=True)


class BulkFeedbackItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    prediction_id = serializers.CharField()
    status = serializers.ChoiceField(
        choices=["created", "replaced", "unchanged", "error"]
    )
    error = ErrorDetailSerializer(required=False)


class BulkFeedbackResponseSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    replaced = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    errors = serializers.IntegerField()
    results = BulkFeedbackItemResultSerializer(many=True)


class PredictionSerializer(serializers.ModelSerializer):
    label = serializers.SerializerMethodField()

    class Meta:
        model = PredictionLog
        fields = [*CLIENT_COLUMNS, "label"]
        read_only_fields = fields

    def get_label(self, obj) -> str | float | None:
        feedback = getattr(obj, "feedback", None) if _has_feedback(obj) else None
        return feedback.label if feedback is not None else None


def _has_feedback(obj) -> bool:
    try:
        obj.feedback  # noqa: B018 - reverse one-to-one raises when absent
    except PredictionLog.feedback.RelatedObjectDoesNotExist:
        return False
    return True


class BatchJobSerializer(serializers.ModelSerializer):
    progress = serializers.FloatField(read_only=True)
    results_url = serializers.SerializerMethodField()

    class Meta:
        model = BatchJob
        fields = [
            "id",
            "model_name",
            "alias",
            "requested_version",
            "model_version",
            "input_kind",
            "original_filename",
            "key_column",
            "ttl_seconds",
            "status",
            "rows_total",
            "rows_done",
            "rows_failed",
            "progress",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "results_url",
        ]
        read_only_fields = fields

    def get_results_url(self, obj) -> str | None:
        if obj.status != "succeeded":
            return None
        return f"/api/v1/batch-jobs/{obj.pk}/results"


class BatchJobCreateSerializer(serializers.Serializer):
    """Upload a CSV (``file``, multipart) or name a server-side ``path``."""

    model = serializers.CharField(max_length=256)
    alias = serializers.RegexField(r"^[A-Za-z0-9_-]{1,64}$", required=False)
    version = serializers.IntegerField(min_value=1, required=False)
    file = serializers.FileField(required=False)
    path = serializers.CharField(max_length=1024, required=False)
    key_column = serializers.CharField(
        max_length=256,
        required=False,
        help_text="Fill the precomputed store, keyed by this column of the CSV.",
    )
    ttl_seconds = serializers.IntegerField(
        min_value=1,
        max_value=366 * 24 * 3600,
        required=False,
        help_text="How long the entries stay fresh (with key_column).",
    )

    def validate(self, attrs):
        if bool(attrs.get("file")) == bool(attrs.get("path")):
            raise serializers.ValidationError("give either a file or a path")
        if attrs.get("alias") and attrs.get("version"):
            raise serializers.ValidationError("give either alias or version")
        return attrs


class _PageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)


class PredictionPageSerializer(_PageSerializer):
    results = PredictionSerializer(many=True)


class BatchJobPageSerializer(_PageSerializer):
    results = BatchJobSerializer(many=True)
