from django.conf import settings
from django.db import models

from core.models import BaseModel
from monitoring.choices import ACTIVE_ALERT_STATUSES, AlertStatus, RuleKind, Severity


class AlertRule(BaseModel):
    """A condition on a monitor's reports or traffic that opens an alert."""

    monitor = models.ForeignKey(
        "monitoring.Monitor",
        on_delete=models.CASCADE,
        related_name="rules",
        help_text="The monitor whose results the rule judges.",
    )
    kind = models.CharField(
        max_length=32, choices=RuleKind.choices, help_text="What the rule checks."
    )
    severity = models.CharField(
        max_length=16,
        choices=Severity.choices,
        default=Severity.WARNING,
        help_text="Severity of the alert it opens.",
    )
    threshold = models.FloatField(
        null=True,
        blank=True,
        help_text="x, y, z or e of the rule (share 0-1, or the metric's value).",
    )
    column = models.CharField(
        max_length=256,
        blank=True,
        default="",
        help_text="Column of a 'named column drifted' rule.",
    )
    metric = models.CharField(
        max_length=32,
        blank=True,
        default="",
        help_text="Metric of a 'metric below' rule (accuracy, f1, mcc, rmse, ...).",
    )
    minutes = models.PositiveIntegerField(
        default=60,
        help_text="Look-back of the error-rate and no-traffic rules, in minutes.",
    )
    count_client_errors = models.BooleanField(
        default=False,
        help_text="Error-rate rule: also count requests refused as the client's "
        "fault (4xx: bad input, unknown model, throttled). Off: only server "
        "failures (5xx) count.",
    )
    enabled = models.BooleanField(default=True, help_text="Judge this rule.")

    class Meta:
        ordering = ["monitor", "kind", "id"]

    def __str__(self) -> str:
        what = self.column or self.metric
        return f"{self.get_kind_display()}{f' {what}' if what else ''} ({self.monitor})"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        needs_threshold = self.kind not in (
            RuleKind.FEATURE_DRIFTED,
            RuleKind.NO_TRAFFIC,
        )
        if needs_threshold and self.threshold is None:
            raise ValidationError({"threshold": "this rule needs a threshold"})
        if self.kind == RuleKind.FEATURE_DRIFTED and not self.column:
            raise ValidationError({"column": "name the column"})
        if self.kind == RuleKind.METRIC_BELOW and not self.metric:
            raise ValidationError({"metric": "name the metric"})


class Alert(BaseModel):
    """An occurrence of a rule firing, de-duplicated: while an alert of a rule
    is open or acknowledged, the rule firing again updates it."""

    rule = models.ForeignKey(
        AlertRule,
        on_delete=models.CASCADE,
        related_name="alerts",
        help_text="The rule that fired.",
    )
    monitor = models.ForeignKey(
        "monitoring.Monitor",
        on_delete=models.CASCADE,
        related_name="alerts",
        help_text="The rule's monitor.",
    )
    model_name = models.CharField(
        max_length=256, db_index=True, help_text="Model concerned."
    )
    model_version = models.PositiveIntegerField(
        null=True, blank=True, help_text="Version concerned, when known."
    )
    severity = models.CharField(
        max_length=16, choices=Severity.choices, help_text="Copied from the rule."
    )
    status = models.CharField(
        max_length=16,
        choices=AlertStatus.choices,
        default=AlertStatus.OPEN,
        db_index=True,
        help_text="open → acknowledged → resolved (resolved when the rule stops "
        "firing).",
    )
    title = models.CharField(max_length=255, help_text="What fired, in a sentence.")
    value = models.FloatField(
        null=True, blank=True, help_text="Observed value when it last fired."
    )
    report = models.ForeignKey(
        "monitoring.Report",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="alerts",
        help_text="Report where the rule last fired (report rules).",
    )
    opened_at = models.DateTimeField(help_text="When the alert opened.")
    last_seen_at = models.DateTimeField(help_text="When the rule last fired.")
    occurrences = models.PositiveIntegerField(
        default=1, help_text="Times the rule fired while the alert was active."
    )
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who acknowledged it.",
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True, help_text="When.")
    snoozed_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="No notifications before this time (the alert stays active).",
    )
    resolved_at = models.DateTimeField(null=True, blank=True, help_text="When.")
    notified_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the opening was notified (set once, by conditional update).",
    )

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule"],
                condition=models.Q(status__in=ACTIVE_ALERT_STATUSES),
                name="one_active_alert_per_rule",
            ),
        ]
        indexes = [
            models.Index(fields=["model_name", "status"], name="alert_model_status"),
        ]

    def __str__(self) -> str:
        return f"[{self.severity}] {self.title}"
