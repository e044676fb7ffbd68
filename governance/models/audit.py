"""The audit ledger: append-only, hash-chained events."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from governance.choices import AuditKind


class AuditLedgerIsAppendOnly(Exception):
    """Raised on any attempt to change or delete an audit event."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AuditLedgerIsAppendOnly("audit events cannot be changed")

    def delete(self):
        raise AuditLedgerIsAppendOnly("audit events cannot be deleted")

    def bulk_update(self, objs, fields, batch_size=None):
        raise AuditLedgerIsAppendOnly("audit events cannot be changed")


class AuditEvent(models.Model):
    """One event of the ledger.

    ``hash`` is an HMAC-SHA256, under the key named by ``key_id``, of the
    previous event's hash and the canonical JSON of this event's fields (see
    governance.hashing.event_mac). The keys live in settings, outside the
    database, so changing, inserting or deleting a row anywhere breaks the
    chain from that row on even for someone who recomputes every hash;
    ``manage.py audit_verify`` finds it. Rows are written only by
    governance.services.audit.audit_append; saving an existing row or deleting
    one raises, and on PostgreSQL a trigger (migration 0005) refuses UPDATE,
    DELETE and TRUNCATE of the table to every role but a superuser.
    """

    sequence = models.PositiveBigIntegerField(
        unique=True,
        help_text="Position in the chain (1, 2, ...), without gaps.",
    )
    created_at = models.DateTimeField(
        db_index=True,
        help_text="When the event happened (part of the hash).",
    )
    kind = models.CharField(
        max_length=32,
        choices=AuditKind.choices,
        db_index=True,
        help_text="What happened.",
    )
    actor = models.CharField(
        max_length=150,
        help_text="Username, or 'system' for tasks, 'mlflow' for outside changes.",
    )
    actor_id = models.IntegerField(
        null=True,
        blank=True,
        help_text="User id of the actor at the time (no foreign key: never changes).",
    )
    model_name = models.CharField(
        max_length=256,
        blank=True,
        default="",
        db_index=True,
        help_text="Registered model concerned, if any.",
    )
    alias = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="MLflow alias concerned, if any.",
    )
    version = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Model version concerned, if any.",
    )
    request_ref = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        db_index=True,
        help_text="Id of the promotion request concerned, if any.",
    )
    payload = models.JSONField(
        default=dict,
        blank=True,
        help_text="Details of the event (part of the hash).",
    )
    prev_hash = models.CharField(
        max_length=64,
        help_text="Hash of the previous event (64 zeros for the first).",
    )
    key_id = models.CharField(
        max_length=32,
        blank=True,
        default="",
        help_text=(
            "Id of the key (held outside the database) whose HMAC is this "
            "event's hash; empty for events written before the chain was keyed."
        ),
    )
    hash = models.CharField(
        max_length=64,
        unique=True,
        help_text="HMAC (or, unkeyed, SHA-256) of prev_hash and the event's JSON.",
    )

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["sequence"]
        indexes = [
            models.Index(
                fields=["model_name", "alias", "sequence"],
                name="audit_model_alias_seq",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(sequence__gte=1), name="audit_sequence_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.kind} by {self.actor}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditLedgerIsAppendOnly(f"audit event #{self.sequence} is immutable")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditLedgerIsAppendOnly(f"audit event #{self.sequence} is immutable")


class AuditChainHead(models.Model):
    """The last event of the chain (a single row, id 1).

    Appends lock this row (SELECT ... FOR UPDATE on PostgreSQL; SQLite's
    IMMEDIATE transactions serialize writers), so two concurrent events never
    share a previous hash. audit_verify also checks it against the last event,
    which detects the removal of events at the end of the chain.
    """

    last_sequence = models.PositiveBigIntegerField(
        default=0,
        help_text="Sequence of the last event.",
    )
    last_hash = models.CharField(
        max_length=64,
        default="0" * 64,
        help_text="Hash of the last event.",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="audit_head_singleton"),
        ]

    def __str__(self) -> str:
        return f"audit chain head at #{self.last_sequence}"
