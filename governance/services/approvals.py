"""Approving and rejecting requests, and confirming emergency rollbacks.

Each decision locks the request row, so two reviewers acting at the same instant
are serialized: the second sees the first's approval, the count is exact and
exactly one of them moves the request to approved (which enqueues one apply).
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.exceptions import ConflictError, NotFoundError
from governance import permissions
from governance.choices import AuditKind, ChecksStatus, Decision, RequestStatus
from governance.models import Approval, PromotionRequest
from governance.models.transitions import request_transition
from governance.selectors import fresh_approvers, promotion_request_get
from governance.services import notifications
from governance.services.audit import audit_append

logger = logging.getLogger(__name__)


class _Refused(Exception):
    """A rule refused the decision inside the locked transaction."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


def _load(request_id: int) -> PromotionRequest:
    request = promotion_request_get(request_id=request_id)
    if request is None:
        raise NotFoundError(f"no promotion request #{request_id}")
    return request


def _enqueue_apply(request_id: int) -> None:
    from governance.tasks import promotion_apply_task

    transaction.on_commit(
        lambda: promotion_apply_task.delay(request_id=request_id), robust=True
    )


def _check_reviewer(
    user: Any, request: PromotionRequest, action: str, via: str
) -> None:
    """Raise (audited) unless ``user`` may review ``request``."""
    policy = request.policy
    if not permissions.can_review(user, policy):
        raise permissions.deny(
            user,
            action=action,
            reason=(
                f"only members of {policy.approver_group.name} may review "
                f"{request.target} requests"
            ),
            code="not_an_approver",
            request=request,
            via=via,
        )
    if request.requester_id == getattr(user, "pk", None) and not (
        policy.requester_may_approve and action == "approve"
    ):
        raise permissions.deny(
            user,
            action=action,
            reason="you cannot review your own request (four-eyes rule)",
            code="self_approval",
            request=request,
            via=via,
        )


class _Expired(Exception):
    """The request's expiry passed before the decision."""


def _reviewable(locked: PromotionRequest, evidence_digest: str | None, now) -> None:
    if locked.status == RequestStatus.PENDING and locked.expires_at <= now:
        raise _Expired
    if locked.status != RequestStatus.PENDING:
        raise ConflictError(
            f"request #{locked.pk} is {locked.status}, not pending",
            code="invalid_state",
        )
    if locked.checks_status != ChecksStatus.PASSED:
        raise ConflictError(
            "the automated checks have not passed"
            + (" yet" if locked.checks_status == ChecksStatus.RUNNING else "")
            + f" (checks: {locked.checks_status})",
            code="checks_not_passed",
        )
    if evidence_digest and evidence_digest != locked.evidence_digest:
        raise ConflictError(
            "the evidence changed since you looked at it; review it again",
            {"evidence_digest": locked.evidence_digest},
            code="evidence_changed",
        )


def _expire_now(request: PromotionRequest, now) -> ConflictError:
    """Expire ``request`` at once (as the periodic task would) and return the
    error for the decision that came too late."""
    from governance.services.requests import promotion_expire_due

    promotion_expire_due(now=now)
    return ConflictError(
        f"request #{request.pk} expired at {request.expires_at:%Y-%m-%d %H:%M %Z}; "
        "ask for it again",
        code="expired",
    )


def promotion_approve(
    *,
    request_id: int,
    user: Any,
    comment: str = "",
    evidence_digest: str | None = None,
    via: str = "",
) -> PromotionRequest:
    """Approve a pending request. When the policy's number of distinct, fresh
    approvals is reached the request becomes approved and the apply task is
    enqueued. ``evidence_digest`` (what the reviewer saw) must match the
    request's current evidence when given."""
    request = _load(request_id)
    _check_reviewer(user, request, "approve", via)
    now = timezone.now()
    try:
        with transaction.atomic():
            locked = PromotionRequest.objects.select_for_update().get(pk=request_id)
            _reviewable(locked, evidence_digest, now)
            mine = Approval.objects.filter(request_id=request_id, approver=user).first()
            if mine is not None and not mine.is_stale:
                raise _Refused(
                    "already_approved",
                    "you have already approved this request; an approver counts once",
                )
            if mine is None:
                Approval.objects.create(
                    request_id=request_id,
                    approver=user,
                    decision=Decision.APPROVE,
                    comment=comment,
                    evidence_digest=locked.evidence_digest,
                )
            else:  # a stale approval: the reviewer saw the new evidence
                Approval.objects.filter(pk=mine.pk, is_stale=True).update(
                    decision=Decision.APPROVE,
                    comment=comment,
                    evidence_digest=locked.evidence_digest,
                    is_stale=False,
                    updated_at=now,
                )
            approvers = fresh_approvers(request=locked)
            needed = request.policy.approvals_required
            audit_append(
                kind=AuditKind.APPROVED,
                actor=user,
                model_name=request.registered_model.name,
                version=request.model_version.version,
                request_id=request_id,
                payload={
                    "comment": comment,
                    "evidence_digest": locked.evidence_digest,
                    "approvals": len(approvers),
                    "required": needed,
                    "renewed": mine is not None,
                    "via": via,
                },
            )
            if len(approvers) >= needed and request_transition(
                request_id=request_id, name="approve", now=now
            ):
                audit_append(
                    kind=AuditKind.REQUEST_APPROVED,
                    actor=user,
                    model_name=request.registered_model.name,
                    version=request.model_version.version,
                    request_id=request_id,
                    payload={
                        "approved_by": approvers,
                        "evidence_digest": locked.evidence_digest,
                        "policy": request.policy.snapshot(),
                    },
                )
                notifications.notify_requester(
                    request, what="approved", by=", ".join(approvers)
                )
                _enqueue_apply(request_id)
    except _Refused as refused:
        raise permissions.deny(
            user,
            action="approve",
            reason=refused.reason,
            code=refused.code,
            request=request,
            via=via,
        ) from None
    except _Expired:
        raise _expire_now(request, now) from None
    request.refresh_from_db()
    logger.info("request #%s approved by %s (%s)", request_id, user, request.status)
    return request


def promotion_reject(
    *, request_id: int, user: Any, comment: str = "", via: str = ""
) -> PromotionRequest:
    """Reject a pending request (one eligible reviewer's rejection ends it)."""
    request = _load(request_id)
    _check_reviewer(user, request, "reject", via)
    now = timezone.now()
    if request.status == RequestStatus.PENDING and request.expires_at <= now:
        raise _expire_now(request, now)
    with transaction.atomic():
        locked = PromotionRequest.objects.select_for_update().get(pk=request_id)
        if locked.status != RequestStatus.PENDING:
            raise ConflictError(
                f"request #{request_id} is {locked.status}, not pending",
                code="invalid_state",
            )
        Approval.objects.update_or_create(
            request_id=request_id,
            approver=user,
            defaults={
                "decision": Decision.REJECT,
                "comment": comment,
                "evidence_digest": locked.evidence_digest,
                "is_stale": False,
            },
        )
        request_transition(request_id=request_id, name="reject", now=now)
        audit_append(
            kind=AuditKind.REJECTED,
            actor=user,
            model_name=request.registered_model.name,
            version=request.model_version.version,
            request_id=request_id,
            payload={
                "comment": comment,
                "evidence_digest": locked.evidence_digest,
                "via": via,
            },
        )
        notifications.notify_requester(
            request, what="rejected", by=user.get_username(), comment=comment
        )
    request.refresh_from_db()
    return request


def emergency_rollback_confirm(
    *, request_id: int, user: Any, comment: str = "", via: str = ""
) -> PromotionRequest:
    """An approver's after-the-fact approval of an applied emergency rollback."""
    request = _load(request_id)
    _check_reviewer(user, request, "confirm", via)
    if not request.needs_confirmation:
        raise ConflictError(
            f"request #{request_id} is not an emergency rollback awaiting confirmation",
            code="invalid_state",
        )
    now = timezone.now()
    with transaction.atomic():
        if not request_transition(
            request_id=request_id, name="confirm_emergency", now=now, confirmed_by=user
        ):
            raise ConflictError(f"request #{request_id} was confirmed already")
        audit_append(
            kind=AuditKind.EMERGENCY_CONFIRMED,
            actor=user,
            model_name=request.registered_model.name,
            version=request.model_version.version,
            request_id=request_id,
            payload={
                "comment": comment,
                "late": now > request.confirm_by,
                "via": via,
            },
        )
    request.refresh_from_db()
    return request
