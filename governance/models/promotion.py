"""The promotion workflow: policies, requests and approvals."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q

from core.models import BaseModel
from governance.choices import (
    OPEN_STATUSES,
    ChecksStatus,
    Decision,
    PolicyTarget,
    RequestKind,
    RequestStatus,
    Stage,
)


class PromotionPolicy(BaseModel):
    """The rules a promotion to one target must satisfy.

    Policies are versioned: editing one (in the admin or with ``policy_update``)
    writes a new version and deactivates the old, so every request keeps the
    exact rules it was created under. Exactly one version per target is active.
    """

    target = models.CharField(
        max_length=16,
        choices=PolicyTarget.choices,
        help_text="What the policy governs: staging, production or rollbacks.",
    )
    version = models.PositiveIntegerField(
        help_text="Version of the policy for its target (1, 2, ...).",
    )
    is_active = models.BooleanField(
        default=True,
        help_text="Whether new requests for this target use this version.",
    )
    approver_group = models.ForeignKey(
        Group,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Group whose members may approve or reject.",
    )
    approvals_required = models.PositiveSmallIntegerField(
        default=1,
        help_text="Distinct approvals needed before the request is applied.",
    )
    requester_may_approve = models.BooleanField(
        default=False,
        help_text="Whether the requester's own approval counts (never, by default).",
    )
    superuser_may_approve = models.BooleanField(
        default=False,
        help_text=(
            "Whether superusers who are not in the approver group may approve "
            "(off by default: a superuser approves only in their own groups)."
        ),
    )
    required_checks = models.JSONField(
        default=list,
        blank=True,
        help_text="Names of the automated checks that must pass (see CheckName).",
    )
    metric_gates = models.JSONField(
        default=list,
        blank=True,
        help_text=(
            'Gated metrics: [{"metric": "mcc", "direction": "higher", '
            '"threshold": 0.8, "margin": 0.02}, ...].'
        ),
    )
    evaluation_set = models.CharField(
        max_length=255,
        blank=True,
        default="",
        help_text=(
            "File (CSV or Parquet) in MODELGATE_EVALUATION_SETS_DIR on which the "
            "candidate and the champion are both scored: the model's input "
            "columns and the label column. Empty: the candidate's held-out split."
        ),
    )
    expiry_hours = models.PositiveIntegerField(
        default=168,
        help_text="A request not decided within this many hours expires.",
    )
    min_staging_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=(
            "Production: minimum time the version must have held the staging "
            "alias. Empty: the MODELGATE_MIN_STAGING_MINUTES setting."
        ),
    )
    emergency_confirm_hours = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=(
            "Rollback: hours within which an emergency rollback must be confirmed "
            "by an approver. Empty: the MODELGATE_EMERGENCY_CONFIRM_HOURS setting."
        ),
    )
    note = models.TextField(
        blank=True,
        default="",
        help_text="Why this version of the policy exists.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who wrote this version (empty: created by a migration).",
    )

    class Meta:
        ordering = ["target", "-version"]
        verbose_name_plural = "promotion policies"
        constraints = [
            models.UniqueConstraint(
                fields=["target", "version"], name="uniq_policy_target_version"
            ),
            models.UniqueConstraint(
                fields=["target"],
                condition=Q(is_active=True),
                name="uniq_active_policy_per_target",
            ),
            models.CheckConstraint(
                condition=Q(approvals_required__gte=1),
                name="policy_needs_one_approval",
            ),
        ]

    def __str__(self) -> str:
        active = "" if self.is_active else " (inactive)"
        return f"{self.get_target_display()} policy v{self.version}{active}"

    def snapshot(self) -> dict:
        """The rules as plain data, for evidence and the audit ledger."""
        return {
            "id": self.pk,
            "target": self.target,
            "version": self.version,
            "approver_group": self.approver_group.name,
            "approvals_required": self.approvals_required,
            "requester_may_approve": self.requester_may_approve,
            "superuser_may_approve": self.superuser_may_approve,
            "required_checks": list(self.required_checks),
            "metric_gates": list(self.metric_gates),
            "evaluation_set": self.evaluation_set,
            "expiry_hours": self.expiry_hours,
            "min_staging_minutes": self.min_staging_minutes,
            "emergency_confirm_hours": self.emergency_confirm_hours,
            "note": self.note,
        }


class PromotionRequest(BaseModel):
    """A request to point a stage alias (staging, production) at a version.

    Status moves only through the named transitions of
    ``governance.models.transitions`` (one conditional UPDATE each), so two
    concurrent actions can never both win a transition.
    """

    registered_model = models.ForeignKey(
        "governance.RegisteredModel",
        on_delete=models.PROTECT,
        related_name="promotion_requests",
        help_text="Model whose alias the request moves.",
    )
    model_version = models.ForeignKey(
        "governance.ModelVersion",
        on_delete=models.PROTECT,
        related_name="promotion_requests",
        help_text="Version the alias will point to.",
    )
    target = models.CharField(
        max_length=16,
        choices=Stage.choices,
        help_text="Stage whose alias moves.",
    )
    kind = models.CharField(
        max_length=24,
        choices=RequestKind.choices,
        default=RequestKind.PROMOTION,
        help_text="Promotion, rollback or emergency rollback.",
    )
    policy = models.ForeignKey(
        PromotionPolicy,
        on_delete=models.PROTECT,
        related_name="requests",
        help_text="Policy version the request is judged by.",
    )
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="promotion_requests",
        help_text="Who asked for the promotion.",
    )
    justification = models.TextField(
        help_text="Why the requester wants this version in this stage.",
    )
    status = models.CharField(
        max_length=16,
        choices=RequestStatus.choices,
        default=RequestStatus.PENDING,
        db_index=True,
        help_text="Where the request is in its life cycle.",
    )
    checks_status = models.CharField(
        max_length=16,
        choices=ChecksStatus.choices,
        default=ChecksStatus.RUNNING,
        help_text="Summary of the automated checks (running until they first ran).",
    )
    evidence = models.JSONField(
        default=dict,
        blank=True,
        help_text="Results of the automated checks and what they compared.",
    )
    evidence_digest = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="SHA-256 of the evidence; approvals record the digest they saw.",
    )
    checks_run_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the checks last ran.",
    )
    expires_at = models.DateTimeField(
        help_text="When an undecided request expires.",
    )
    decided_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the request was approved, rejected, cancelled or expired.",
    )
    from_version = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Version the target alias held when the apply started.",
    )
    apply_attempts = models.PositiveSmallIntegerField(
        default=0,
        help_text="How many times applying was attempted.",
    )
    apply_started_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the current (or last) apply attempt started.",
    )
    applied_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the alias was moved.",
    )
    apply_error = models.TextField(
        blank=True,
        default="",
        help_text="Why the last apply attempt failed.",
    )
    confirm_by = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Emergency rollback: deadline for an approver's confirmation.",
    )
    confirmed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Emergency rollback: when an approver confirmed it.",
    )
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Emergency rollback: the approver who confirmed it.",
    )
    overdue_notified_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Emergency rollback: when the overdue confirmation was reported.",
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "target"],
                condition=Q(status__in=[s.value for s in OPEN_STATUSES]),
                name="uniq_open_request_per_version_target",
            ),
            models.CheckConstraint(
                condition=Q(status__in=RequestStatus.values),
                name="request_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(kind=RequestKind.EMERGENCY_ROLLBACK)
                | Q(confirm_by__isnull=False),
                name="emergency_rollback_has_deadline",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"#{self.pk} {self.registered_model.name} v{self.model_version.version}"
            f" → {self.target} ({self.status})"
        )

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def needs_confirmation(self) -> bool:
        """An applied emergency rollback no approver has confirmed yet."""
        return (
            self.kind == RequestKind.EMERGENCY_ROLLBACK
            and self.status == RequestStatus.APPLIED
            and self.confirmed_at is None
        )


class Approval(BaseModel):
    """One reviewer's decision on a request. A reviewer has at most one row per
    request, so an approver counts once; a stale approval (the evidence changed
    after it) no longer counts until the reviewer approves again."""

    request = models.ForeignKey(
        PromotionRequest,
        on_delete=models.PROTECT,
        related_name="approvals",
        help_text="The request decided on.",
    )
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="promotion_approvals",
        help_text="The reviewer.",
    )
    decision = models.CharField(
        max_length=8,
        choices=Decision.choices,
        help_text="Approve or reject.",
    )
    comment = models.TextField(
        blank=True,
        default="",
        help_text="The reviewer's comment.",
    )
    evidence_digest = models.CharField(
        max_length=64,
        help_text="Digest of the evidence the reviewer saw.",
    )
    is_stale = models.BooleanField(
        default=False,
        help_text="The evidence changed after this approval; it no longer counts.",
    )

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "approver"], name="uniq_approval_per_approver"
            ),
        ]

    def __str__(self) -> str:
        stale = " (stale)" if self.is_stale else ""
        return f"{self.approver} {self.decision}s #{self.request_id}{stale}"
