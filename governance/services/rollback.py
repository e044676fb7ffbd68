"""Rollbacks of production to the previous version.

A rollback is a promotion of the ``previous`` version back to production under
the rollback policy (default: one production approver). An emergency rollback
(ops) applies at once and must be confirmed by an approver within the policy's
time; until then it is flagged on the registry pages, and when the deadline
passes ops and approvers are told again.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.exceptions import ApplicationError, ConflictError
from governance import permissions
from governance.choices import (
    AuditKind,
    PolicyTarget,
    RequestKind,
    RequestStatus,
    Stage,
)
from governance.hashing import evidence_digest
from governance.models import PromotionRequest
from governance.models.transitions import (
    TRANSITIONS,
    request_status_initial,
    request_transition,
)
from governance.selectors import (
    model_aliases,
    policy_active,
    promotion_request_list,
    stage_alias,
)
from governance.services import notifications
from governance.services.apply import promotion_apply
from governance.services.audit import audit_append
from governance.services.checks import evidence_compute
from governance.services.requests import (
    model_sync_quietly,
    model_version_require,
    promotion_request_create,
)

logger = logging.getLogger(__name__)


def _previous_version(model_name: str) -> int:
    aliases = model_aliases(name=model_name)
    previous = aliases.get(stage_alias("previous"))
    if previous is None:
        raise ConflictError(
            f"{model_name} has no {stage_alias('previous')!r} version to roll back to",
            code="no_previous_version",
        )
    if aliases.get(stage_alias("production")) == previous:
        raise ConflictError(
            f"{model_name} v{previous} is already in production", code="already_there"
        )
    return previous


def promotion_rollback_request(
    *, user: Any, model_name: str, justification: str, via: str = ""
) -> PromotionRequest:
    """Ask for the previous production version to come back (rollback policy)."""
    if not permissions.can_rollback(user):
        raise permissions.deny(
            user,
            action="rollback",
            reason="only ops, production approvers and admins may ask for a rollback",
            model_name=model_name,
            via=via,
        )
    model_sync_quietly(name=model_name)
    return promotion_request_create(
        user=user,
        model_name=model_name,
        version=_previous_version(model_name),
        target=Stage.PRODUCTION,
        justification=justification,
        kind=RequestKind.ROLLBACK,
        via=via,
    )


def promotion_emergency_rollback(
    *, user: Any, model_name: str, justification: str, via: str = ""
) -> PromotionRequest:
    """Put the previous version back in production now (ops). The request is
    recorded as an emergency rollback, applied at once, and waits for an
    approver's confirmation (``emergency_rollback_confirm``)."""
    if not permissions.can_emergency_rollback(user):
        raise permissions.deny(
            user,
            action="emergency_rollback",
            reason="only ops and admins may start an emergency rollback",
            model_name=model_name,
            via=via,
        )
    justification = (justification or "").strip()
    if not justification:
        raise ApplicationError(
            "a justification is required",
            {"fields": {"justification": ["this field may not be blank"]}},
        )
    model_sync_quietly(name=model_name)
    mv = model_version_require(
        model_name=model_name, version=_previous_version(model_name)
    )
    policy = policy_active(target=PolicyTarget.ROLLBACK)
    if policy is None:
        raise ConflictError("no active rollback policy")
    hours = policy.emergency_confirm_hours
    if hours is None:
        hours = settings.GOVERNANCE["EMERGENCY_CONFIRM_HOURS"]
    now = timezone.now()
    with transaction.atomic():
        superseded = list(
            PromotionRequest.objects.select_for_update().filter(
                model_version=mv,
                target=Stage.PRODUCTION,
                status__in=TRANSITIONS["cancel"].sources,
            )
        )
        for old in superseded:
            if request_transition(request_id=old.pk, name="cancel", now=now):
                audit_append(
                    kind=AuditKind.REQUEST_CANCELLED,
                    actor=user,
                    model_name=model_name,
                    version=mv.version,
                    request_id=old.pk,
                    payload={"reason": "superseded by an emergency rollback"},
                )
        request = PromotionRequest.objects.create(
            registered_model=mv.registered_model,
            model_version=mv,
            target=Stage.PRODUCTION,
            kind=RequestKind.EMERGENCY_ROLLBACK,
            policy=policy,
            requester=user,
            justification=justification,
            status=request_status_initial(RequestKind.EMERGENCY_ROLLBACK),
            decided_at=now,
            expires_at=now + timedelta(hours=hours),
            confirm_by=now + timedelta(hours=hours),
        )
        evidence, checks_status = evidence_compute(request=request, score=False)
        PromotionRequest.objects.filter(pk=request.pk).update(
            evidence=evidence,
            evidence_digest=evidence_digest(evidence),
            checks_status=checks_status,
            checks_run_at=now,
        )
        audit_append(
            kind=AuditKind.REQUEST_CREATED,
            actor=user,
            model_name=model_name,
            version=mv.version,
            request_id=request.pk,
            payload={
                "target": Stage.PRODUCTION,
                "request_kind": RequestKind.EMERGENCY_ROLLBACK,
                "justification": justification,
                "policy": policy.snapshot(),
                "confirm_by": request.confirm_by.isoformat(),
                "checks_status": checks_status,
                "via": via,
            },
        )
    logger.warning(
        "emergency rollback of %s to v%s by %s", model_name, mv.version, user
    )
    return promotion_apply(request_id=request.pk) or request


def emergency_overdue_notify(*, now=None) -> int:
    """Report (once each) emergency rollbacks whose confirmation is overdue."""
    now = now or timezone.now()
    count = 0
    overdue = PromotionRequest.objects.filter(
        kind=RequestKind.EMERGENCY_ROLLBACK,
        status=RequestStatus.APPLIED,
        confirmed_at__isnull=True,
        confirm_by__lt=now,
        overdue_notified_at__isnull=True,
    ).values_list("pk", flat=True)
    for request_id in list(overdue):
        with transaction.atomic():
            if not PromotionRequest.objects.filter(
                pk=request_id, overdue_notified_at__isnull=True
            ).update(overdue_notified_at=now):
                continue
            request = promotion_request_list().get(pk=request_id)
            audit_append(
                kind=AuditKind.EMERGENCY_OVERDUE,
                model_name=request.registered_model.name,
                version=request.model_version.version,
                request_id=request_id,
                payload={"confirm_by": request.confirm_by.isoformat()},
            )
            notifications.notify_emergency(request, overdue=True)
            count += 1
    return count
