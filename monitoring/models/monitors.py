from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models
from django_celery_beat.models import PeriodicTask

from core.models import BaseModel
from monitoring.calculations.methods import CAT, METHODS, NUM, TEXT
from monitoring.choices import DriftMethod


class Monitor(BaseModel):
    """What to watch of one model and how: schedule, window, pinned drift
    methods and thresholds per column type, sample bounds, recipients.

    The reference is the served version's reference sample, logged by the
    trainer with the version (tag ``modelgate.reference_artifact``).
    """

    name = models.CharField(
        max_length=128,
        unique=True,
        help_text="Name of the monitor, shown on the dashboards and in e-mails.",
    )
    model_name = models.CharField(
        max_length=256,
        db_index=True,
        help_text="Registered model watched by this monitor.",
    )
    alias = models.CharField(
        max_length=64,
        default="production",
        help_text="Alias whose version is watched (its reference sample is used).",
    )
    model_version = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Watch this version instead of the alias (blank: follow the alias).",
    )
    enabled = models.BooleanField(
        default=True,
        help_text="Disabled monitors keep their history but are not scheduled.",
    )
    schedule = models.CharField(
        max_length=64,
        default="*/10 * * * *",
        help_text="Crontab (minute hour day month weekday, UTC) of the report job. "
        "Each run reports the last complete window; runs within one window "
        "find the report already done.",
    )
    window_minutes = models.PositiveIntegerField(
        default=60,
        help_text="Length of a report window in minutes (windows align to it).",
    )
    num_method = models.CharField(
        max_length=32,
        choices=DriftMethod.choices,
        default=DriftMethod.WASSERSTEIN,
        help_text="Drift method for numeric columns and text descriptors.",
    )
    num_threshold = models.FloatField(
        default=0.1, help_text="Threshold of the numeric method."
    )
    cat_method = models.CharField(
        max_length=32,
        choices=DriftMethod.choices,
        default=DriftMethod.JENSENSHANNON,
        help_text="Drift method for categorical columns, labels and predictions.",
    )
    cat_threshold = models.FloatField(
        default=0.1, help_text="Threshold of the categorical method."
    )
    text_method = models.CharField(
        max_length=32,
        choices=DriftMethod.choices,
        default=DriftMethod.TEXT_DOMAIN,
        help_text="Drift method for text columns.",
    )
    text_threshold = models.FloatField(
        default=0.55, help_text="Threshold of the text method (ROC AUC)."
    )
    column_overrides = models.JSONField(
        default=dict,
        blank=True,
        help_text='Per column: {"col": {"kind": "cat", "method": "psi", '
        '"threshold": 0.2}}.',
    )
    drift_share = models.FloatField(
        default=0.5,
        help_text="Share of drifted feature columns from which the window counts as "
        "drifting.",
    )
    min_rows = models.PositiveIntegerField(
        default=500,
        help_text="Minimum predictions in a window for a drift verdict (distances "
        "such as Wasserstein are noisy on a few hundred rows).",
    )
    max_rows = models.PositiveIntegerField(
        default=50_000,
        help_text="Largest sample of the window used for drift (evenly spread).",
    )
    text_sample_rows = models.PositiveIntegerField(
        default=5_000,
        help_text="Rows per side for the text domain classifier.",
    )
    html_report = models.BooleanField(
        default=True,
        help_text="Also save Evidently's HTML view of each report (the same rows, "
        "columns and pinned methods as the report).",
    )
    min_label_coverage = models.FloatField(
        default=0.3,
        help_text="Share of labelled predictions from which performance is final "
        "(below it, results are provisional).",
    )
    min_labels = models.PositiveIntegerField(
        default=30,
        help_text="Minimum labelled predictions for label drift and performance.",
    )
    performance_margin = models.FloatField(
        default=0.05,
        help_text="A metric worse than the reference by more than this (absolute) "
        "is degraded.",
    )
    max_text_length = models.PositiveIntegerField(
        default=1000,
        help_text="Texts longer than this count as over-long in data quality.",
    )
    recipients = models.TextField(
        blank=True,
        default="",
        help_text="E-mail addresses of the digest and alerts, one per line or "
        "comma-separated.",
    )
    webhook_url = models.URLField(
        blank=True,
        default="",
        help_text="Optional URL receiving alerts as HMAC-signed JSON POSTs.",
    )
    webhook_secret = models.CharField(
        max_length=128,
        blank=True,
        default="",
        help_text="Secret of the webhook's HMAC-SHA256 signature.",
    )
    periodic_task = models.OneToOneField(
        PeriodicTask,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        help_text="The beat entry that runs this monitor (kept in sync).",
    )

    class Meta:
        ordering = ["model_name", "name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(window_minutes__gte=1),
                name="monitor_window_positive",
            ),
            models.CheckConstraint(
                condition=models.Q(drift_share__gt=0) & models.Q(drift_share__lte=1),
                name="monitor_drift_share_range",
            ),
            models.CheckConstraint(
                condition=models.Q(min_label_coverage__gte=0)
                & models.Q(min_label_coverage__lte=1),
                name="monitor_coverage_range",
            ),
            models.CheckConstraint(
                condition=models.Q(max_rows__gte=models.F("min_rows")),
                name="monitor_max_rows_at_least_min",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def recipient_list(self) -> list[str]:
        raw = self.recipients.replace(",", "\n").split()
        return [r.strip() for r in raw if r.strip()]

    def methods(self) -> dict[str, tuple[str, float]]:
        return {
            NUM: (self.num_method, self.num_threshold),
            CAT: (self.cat_method, self.cat_threshold),
            TEXT: (self.text_method, self.text_threshold),
        }

    def clean(self) -> None:
        errors: dict[str, str] = {}
        for kind, (method, threshold) in self.methods().items():
            field = f"{kind}_method"
            if kind not in METHODS[method].kinds:
                errors[field] = f"{method} does not apply to {kind} columns"
            if threshold <= 0:
                errors[f"{kind}_threshold"] = "must be positive"
        parts = self.schedule.split()
        if len(parts) != 5:
            errors["schedule"] = "five fields: minute hour day month weekday"
        for address in self.recipient_list:
            try:
                validate_email(address)
            except ValidationError:
                errors["recipients"] = f"not an e-mail address: {address}"
        if not isinstance(self.column_overrides, dict):
            errors["column_overrides"] = "must be an object keyed by column"
        else:
            for column, spec in self.column_overrides.items():
                if not isinstance(spec, dict):
                    errors["column_overrides"] = f"{column}: must be an object"
                    continue
                kind = spec.get("kind")
                method = spec.get("method")
                if kind is not None and kind not in (NUM, CAT, TEXT):
                    errors["column_overrides"] = f"{column}: unknown kind {kind}"
                elif method and (
                    method not in METHODS
                    or (kind is not None and kind not in METHODS[method].kinds)
                ):
                    errors["column_overrides"] = (
                        f"{column}: method {method} does not fit kind {kind}"
                    )
        if self.webhook_url and not self.webhook_secret:
            errors["webhook_secret"] = "a webhook needs a secret to sign with"  # noqa: S105
        if errors:
            raise ValidationError(errors)
