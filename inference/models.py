"""The prediction log and the ground-truth feedback joined to it."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.models import BaseModel
from inference.choices import PredictionSource


class PredictionLog(models.Model):
    """One served prediction: one row per input row of a 2xx response.

    Written in the same transaction that produces the response, so the log and
    what clients received can never disagree. Append-only; deleted only by the
    retention command.
    """

    prediction_id = models.UUIDField(
        default=uuid.uuid4,
        unique=True,
        editable=False,
        help_text="Public id of the prediction, returned to the client.",
    )
    model_name = models.CharField(
        max_length=256,
        help_text="Registered model name that served the prediction.",
    )
    model_version = models.PositiveIntegerField(
        help_text="Registered model version that served the prediction.",
    )
    alias = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="Alias the client asked for (blank when it named a version).",
    )
    source = models.CharField(
        max_length=16,
        choices=PredictionSource.choices,
        default=PredictionSource.API,
        help_text="Interface that served the prediction.",
    )
    inputs = models.JSONField(
        help_text="The input row as validated against the signature.",
    )
    prediction = models.JSONField(
        help_text="The predicted label (classification) or value (regression).",
    )
    probabilities = models.JSONField(
        null=True,
        blank=True,
        help_text="Class probabilities, {label: probability}, when the model has them.",
    )
    outlier_score = models.FloatField(
        null=True,
        blank=True,
        help_text="Outlier score from the version's detector (higher is stranger).",
    )
    is_outlier = models.BooleanField(
        default=False,
        help_text="Whether the detector flagged the row.",
    )
    latency_ms = models.FloatField(
        help_text="Server time spent on the request, divided by its rows.",
    )
    client = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="predictions",
        help_text="Authenticated client (user or API token owner).",
    )
    request_id = models.CharField(
        max_length=128,
        blank=True,
        default="",
        help_text="X-Request-ID of the request (client-supplied or generated).",
    )
    row_index = models.PositiveIntegerField(
        default=0,
        help_text="Position of the row in its request.",
    )
    batch_id = models.UUIDField(
        null=True,
        blank=True,
        db_index=True,
        help_text="Batch job that produced the row, if any.",
    )
    created_at = models.DateTimeField(
        default=timezone.now,
        db_index=True,
        help_text="When the prediction was served.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["model_name", "model_version", "created_at"],
                name="predlog_model_version_time",
            ),
            models.Index(
                fields=["model_name", "created_at"], name="predlog_model_time"
            ),
            models.Index(fields=["client", "created_at"], name="predlog_client_time"),
        ]

    def __str__(self) -> str:
        return f"{self.model_name} v{self.model_version} {self.prediction_id}"


class Feedback(BaseModel):
    """The ground-truth label of a logged prediction (latest one wins)."""

    prediction = models.OneToOneField(
        PredictionLog,
        on_delete=models.CASCADE,
        related_name="feedback",
        help_text="The prediction the label belongs to.",
    )
    label = models.JSONField(
        help_text="True label (a class of the model) or value.",
    )
    client = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="feedback",
        help_text="Who sent the label.",
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"feedback for {self.prediction_id}"


class FeedbackHistory(models.Model):
    """A label that was replaced by a later one (kept for audit)."""

    feedback = models.ForeignKey(
        Feedback,
        on_delete=models.CASCADE,
        related_name="history",
        help_text="The feedback row whose label changed.",
    )
    previous_label = models.JSONField(
        help_text="Label before the change.",
    )
    new_label = models.JSONField(
        help_text="Label after the change.",
    )
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who sent the replacing label.",
    )
    changed_at = models.DateTimeField(
        default=timezone.now,
        help_text="When the label was replaced.",
    )

    class Meta:
        ordering = ["-changed_at"]
        verbose_name_plural = "feedback history"

    def __str__(self) -> str:
        return f"{self.previous_label!r} → {self.new_label!r}"
