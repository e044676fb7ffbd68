"""Retraining: a policy per registered model and the runs it starts."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from core.models import BaseModel
from trainer.choices import (
    ALERT_KINDS,
    RetrainingAction,
    RetrainingTrigger,
    RunStatus,
    Severity,
)


class RetrainingPolicy(BaseModel):
    """When a model is retrained on fresh data, how, and what happens to the
    version: registered only, or registered with a staging request opened.
    A policy never moves an alias; the request goes through the normal checks
    and approvals."""

    model_name = models.CharField(
        max_length=256,
        unique=True,
        help_text="Registered model the policy retrains.",
    )
    enabled = models.BooleanField(default=True, help_text="Act on triggers.")
    params_file = models.CharField(
        max_length=255,
        default="params.yaml",
        help_text="Params file of the training, relative to the project folder.",
    )
    overrides = models.JSONField(
        default=list,
        blank=True,
        help_text='Overrides of the params file, e.g. ["split.random_state=7"].',
    )
    production_days = models.PositiveIntegerField(
        default=30,
        help_text="Add the labelled predictions of the last N days to the data "
        "(0: the original data only).",
    )
    schedule_hours = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Retrain every N hours (blank: no schedule).",
    )
    alert_kinds = models.JSONField(
        default=list,
        blank=True,
        help_text="Alert rule kinds that trigger a run: "
        + ", ".join(ALERT_KINDS)
        + " (empty: alerts do not trigger).",
    )
    alert_min_severity = models.CharField(
        max_length=16,
        choices=Severity.choices,
        default=Severity.WARNING,
        help_text="Lowest alert severity that triggers a run.",
    )
    min_new_labels = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Retrain once this many labels arrived since the last run "
        "(blank: labels do not trigger).",
    )
    min_gap_minutes = models.PositiveIntegerField(
        default=360,
        help_text="Minutes that must pass between two automatic runs.",
    )
    action = models.CharField(
        max_length=32,
        choices=RetrainingAction.choices,
        default=RetrainingAction.REQUEST_STAGING,
        help_text="What to do with a version that passes its model tests.",
    )
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Data scientist in whose name the staging request is opened "
        "(needed by 'register and request staging'); told of failed runs.",
    )
    notify_emails = models.JSONField(
        default=list,
        blank=True,
        help_text="More addresses told of failed runs (the model's owners).",
    )

    class Meta:
        ordering = ["model_name"]
        verbose_name_plural = "retraining policies"

    def __str__(self) -> str:
        return f"retraining of {self.model_name}"

    def clean(self) -> None:
        unknown = [k for k in self.alert_kinds or [] if k not in ALERT_KINDS]
        if unknown:
            raise ValidationError(
                {"alert_kinds": f"unknown kind(s) {unknown}: use {list(ALERT_KINDS)}"}
            )
        if not isinstance(self.overrides, list) or not all(
            isinstance(o, str) and "=" in o for o in self.overrides
        ):
            raise ValidationError({"overrides": 'a list of "key=value" strings'})
        if self.action == RetrainingAction.REQUEST_STAGING and not self.requester_id:
            raise ValidationError(
                {"requester": "name the data scientist who requests staging"}
            )

    def snapshot(self) -> dict:
        """The settings, as the audit ledger records them."""
        return {
            "model_name": self.model_name,
            "enabled": self.enabled,
            "params_file": self.params_file,
            "overrides": list(self.overrides or []),
            "production_days": self.production_days,
            "schedule_hours": self.schedule_hours,
            "alert_kinds": list(self.alert_kinds or []),
            "alert_min_severity": self.alert_min_severity,
            "min_new_labels": self.min_new_labels,
            "min_gap_minutes": self.min_gap_minutes,
            "action": self.action,
            "requester": self.requester.get_username() if self.requester else None,
            "notify_emails": list(self.notify_emails or []),
        }


class RetrainingRun(BaseModel):
    """One retraining of a model, started by one trigger (at most one run per
    trigger: an alert delivered twice starts one run)."""

    policy = models.ForeignKey(
        RetrainingPolicy,
        on_delete=models.PROTECT,
        related_name="runs",
        help_text="The policy that started the run.",
    )
    model_name = models.CharField(
        max_length=256, db_index=True, help_text="Registered model retrained."
    )
    trigger = models.CharField(
        max_length=16,
        choices=RetrainingTrigger.choices,
        help_text="What started the run.",
    )
    trigger_key = models.CharField(
        max_length=128,
        help_text="Identity of the trigger (alert:<id>, schedule:<slot>, ...).",
    )
    trigger_detail = models.JSONField(
        default=dict, blank=True, help_text="The trigger as it was received."
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who started it by hand.",
    )
    status = models.CharField(
        max_length=16,
        choices=RunStatus.choices,
        default=RunStatus.QUEUED,
        db_index=True,
        help_text="queued → running → succeeded, failed (model tests) or error.",
    )
    progress = models.CharField(
        max_length=255, blank=True, default="", help_text="Latest step."
    )
    log = models.TextField(blank=True, default="", help_text="The trainer's output.")
    started_at = models.DateTimeField(null=True, blank=True, help_text="When.")
    finished_at = models.DateTimeField(null=True, blank=True, help_text="When.")
    data = models.JSONField(
        default=dict,
        blank=True,
        help_text="Data fingerprint: hash, rows per label and per source.",
    )
    metrics = models.JSONField(
        default=dict, blank=True, help_text="Held-out metrics of the version."
    )
    model_version = models.PositiveIntegerField(
        null=True, blank=True, help_text="The version registered."
    )
    tests_passed = models.BooleanField(
        null=True, blank=True, help_text="Whether its model tests passed."
    )
    promotion_request = models.ForeignKey(
        "governance.PromotionRequest",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The staging request opened for the version.",
    )
    error = models.TextField(
        blank=True, default="", help_text="Why it failed or was skipped."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["policy", "trigger_key"], name="one_run_per_trigger"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_name} retraining #{self.pk} ({self.status})"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None
