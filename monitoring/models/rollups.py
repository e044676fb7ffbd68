from django.db import models

from monitoring.choices import Granularity


class TrafficRollup(models.Model):
    """Per-minute or per-hour aggregates of the prediction log (and of the
    refused requests), maintained incrementally so dashboards never scan the
    log. Error counts that name no version are stored under version 0."""

    model_name = models.CharField(max_length=256, help_text="Registered model.")
    model_version = models.PositiveIntegerField(
        help_text="Version (0: errors whose version is unknown)."
    )
    granularity = models.CharField(
        max_length=8, choices=Granularity.choices, help_text="Bucket length."
    )
    bucket_start = models.DateTimeField(help_text="Start of the bucket.")
    requests = models.PositiveIntegerField(
        default=0, help_text="Logged predictions (rows)."
    )
    latency_sum_ms = models.FloatField(default=0.0, help_text="Sum of latencies.")
    latency_buckets = models.JSONField(
        default=list,
        help_text="Counts per latency bucket (monitoring.calculations.latency).",
    )
    outliers = models.PositiveIntegerField(default=0, help_text="Rows flagged.")
    errors = models.PositiveIntegerField(
        default=0, help_text="Refused or failed requests (4xx and 5xx)."
    )
    server_errors = models.PositiveIntegerField(
        default=0, help_text="Of those, requests that failed on the server (5xx)."
    )
    predictions = models.JSONField(
        default=dict, help_text="Count per predicted label (classification)."
    )
    prediction_sum = models.FloatField(
        default=0.0, help_text="Sum of numeric predictions (regression)."
    )

    class Meta:
        ordering = ["model_name", "granularity", "bucket_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_name", "model_version", "granularity", "bucket_start"],
                name="uniq_traffic_rollup",
            ),
        ]
        indexes = [
            models.Index(
                fields=["model_name", "granularity", "bucket_start"],
                name="rollup_model_gran_time",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.model_name} v{self.model_version} "
            f"{self.granularity} {self.bucket_start:%Y-%m-%d %H:%M}"
        )


class RollupWatermark(models.Model):
    """How far the rollups have consumed a source (prediction log by id,
    request errors by time). Its row lock serialises concurrent rollup runs."""

    name = models.CharField(max_length=64, unique=True, help_text="Source name.")
    last_id = models.BigIntegerField(default=0, help_text="Last consumed row id.")
    last_time = models.DateTimeField(
        null=True, blank=True, help_text="Consumed up to this time."
    )
    updated_at = models.DateTimeField(auto_now=True, help_text="Last run.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} @ {self.last_id}"
