from django.conf import settings
from django.db import models

from core.models import BaseModel
from monitoring.choices import ModelHealth, ReportKind, ReportStatus


class Report(BaseModel):
    """One report of a monitor for one window: the job's state, its progress
    and, once done, the summary and Evidently's HTML file.

    Unique per (monitor, window, key): however many times the job is
    delivered, a window has one report and one e-mail. ``key`` tells
    comparisons apart (blank for the monitor's own windows).
    """

    monitor = models.ForeignKey(
        "monitoring.Monitor",
        on_delete=models.CASCADE,
        related_name="reports",
        help_text="The monitor the report belongs to.",
    )
    kind = models.CharField(
        max_length=16,
        choices=ReportKind.choices,
        default=ReportKind.SCHEDULED,
        help_text="Scheduled, on demand or a comparison.",
    )
    key = models.CharField(
        max_length=128,
        blank=True,
        default="",
        help_text="Blank for a window report; identifies a comparison otherwise.",
    )
    window_start = models.DateTimeField(help_text="Start of the window (inclusive).")
    window_end = models.DateTimeField(help_text="End of the window (exclusive).")
    model_name = models.CharField(
        max_length=256,
        db_index=True,
        help_text="Model of the monitor when the report was created.",
    )
    model_version = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Version whose predictions were analysed (set when computed, or "
        "requested for a comparison).",
    )
    reference_version = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Version whose reference sample was used (comparison: whose "
        "predictions form the reference).",
    )
    reference_start = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Comparison of windows: start of the reference window.",
    )
    reference_end = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Comparison of windows: end of the reference window.",
    )
    status = models.CharField(
        max_length=16,
        choices=ReportStatus.choices,
        default=ReportStatus.PENDING,
        db_index=True,
        help_text="pending → running → succeeded, or failed after the attempt cap.",
    )
    attempts = models.PositiveIntegerField(
        default=0, help_text="Times a worker claimed the job."
    )
    progress = models.PositiveSmallIntegerField(
        default=0, help_text="Progress of the job, 0-100."
    )
    progress_message = models.CharField(
        max_length=255, blank=True, default="", help_text="What the job is doing."
    )
    claim_token = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="Token of the worker run that holds the job.",
    )
    lease_expires_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Until when the holder's claim is valid (renewed on progress).",
    )
    started_at = models.DateTimeField(null=True, blank=True, help_text="Last claim.")
    finished_at = models.DateTimeField(
        null=True, blank=True, help_text="When the job succeeded or failed."
    )
    error = models.TextField(
        blank=True, default="", help_text="Last error of the job, if any."
    )
    summary = models.JSONField(
        default=dict,
        blank=True,
        help_text="Results: per-column method, threshold, score and verdict, drift "
        "share, performance, outliers, data quality.",
    )
    html_file = models.FileField(
        upload_to="monitoring/reports/",
        blank=True,
        max_length=255,
        help_text="Evidently's HTML report (bounded sample), in the shared storage.",
    )
    rows = models.PositiveIntegerField(
        default=0, help_text="Predictions analysed (after sampling)."
    )
    drift_share = models.FloatField(
        null=True, blank=True, help_text="Share of drifted feature columns."
    )
    health = models.CharField(
        max_length=16,
        choices=ModelHealth.choices,
        blank=True,
        default="",
        help_text="Status badge the report gives the model.",
    )
    email_sent_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the digest e-mail was sent (set once, by conditional update).",
    )
    alerts_evaluated_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the monitor's alert rules were judged on this report.",
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who asked for an on-demand report or comparison.",
    )

    class Meta:
        ordering = ["-window_end", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["monitor", "window_start", "window_end", "key"],
                name="uniq_report_per_monitor_window",
            ),
            models.CheckConstraint(
                condition=models.Q(window_end__gt=models.F("window_start")),
                name="report_window_not_empty",
            ),
            models.CheckConstraint(
                condition=models.Q(progress__lte=100), name="report_progress_range"
            ),
        ]
        indexes = [
            models.Index(fields=["model_name", "-window_end"], name="report_model_end"),
            models.Index(fields=["status", "updated_at"], name="report_status_time"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.monitor} {self.window_start:%Y-%m-%d %H:%M}–{self.window_end:%H:%M}"
        )


class PerformanceWindow(BaseModel):
    """Performance of a version on the labelled predictions of one window
    (by prediction time), recomputed whenever late labels arrive."""

    monitor = models.ForeignKey(
        "monitoring.Monitor",
        on_delete=models.CASCADE,
        related_name="performance_windows",
        help_text="The monitor whose window length and settings apply.",
    )
    model_version = models.PositiveIntegerField(help_text="Version that predicted.")
    window_start = models.DateTimeField(help_text="Start of the prediction window.")
    window_end = models.DateTimeField(help_text="End of the prediction window.")
    predictions = models.PositiveIntegerField(
        default=0, help_text="Predictions in the window."
    )
    labelled = models.PositiveIntegerField(
        default=0, help_text="Predictions with a ground-truth label."
    )
    coverage = models.FloatField(default=0.0, help_text="labelled / predictions.")
    provisional = models.BooleanField(
        default=True, help_text="Coverage still below the monitor's minimum."
    )
    degraded = models.BooleanField(
        default=False, help_text="A metric fell below the reference by the margin."
    )
    metrics = models.JSONField(
        default=dict,
        blank=True,
        help_text="{metric: {value, reference, delta, degraded}}.",
    )
    computed_at = models.DateTimeField(help_text="When last computed.")

    class Meta:
        ordering = ["monitor", "-window_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["monitor", "model_version", "window_start"],
                name="uniq_performance_window",
            ),
            models.CheckConstraint(
                condition=models.Q(labelled__lte=models.F("predictions")),
                name="performance_labelled_le_predictions",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.monitor} v{self.model_version} {self.window_start:%Y-%m-%d %H:%M}"
        )


class ReferenceStatistics(models.Model):
    """The reference side of the drift tests of one model version under one
    method configuration (``monitoring.calculations.report.
    reference_statistics``): computed by the first report that needs it and
    read by every later one; a changed configuration has another key."""

    model_name = models.CharField(
        max_length=256,
        help_text="Registered model whose reference sample this describes.",
    )
    model_version = models.PositiveIntegerField(
        help_text="Version whose reference sample this describes.",
    )
    config_key = models.CharField(
        max_length=64,
        help_text="SHA-256 of the drift configuration the statistics depend on.",
    )
    statistics = models.JSONField(
        help_text="Prepared reference values per tested column, and the "
        "descriptor columns and vocabulary of text features.",
    )
    created_at = models.DateTimeField(
        auto_now_add=True,
        help_text="When the statistics were computed.",
    )

    class Meta:
        ordering = ["model_name", "model_version", "-created_at"]
        verbose_name_plural = "reference statistics"
        constraints = [
            models.UniqueConstraint(
                fields=["model_name", "model_version", "config_key"],
                name="uniq_reference_statistics",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_name} v{self.model_version} ({self.config_key[:8]})"
