"""Creating, cancelling and expiring promotion requests."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from core import registry
from core.exceptions import ApplicationError, ConflictError, NotFoundError
from governance import permissions
from governance.choices import (
    OPEN_STATUSES,
    AuditKind,
    PolicyTarget,
    RequestKind,
    RequestStatus,
    Stage,
)
from governance.models import ModelVersion, PromotionPolicy, PromotionRequest
from governance.models.transitions import request_status_initial, request_transition
from governance.selectors import (
    model_aliases,
    model_version_get,
    policy_active,
    promotion_request_get,
    promotion_request_list,
    stage_alias,
)
from governance.services import notifications
from governance.services.audit import audit_append
from governance.services.mirror import registered_model_sync

logger = logging.getLogger(__name__)


def model_sync_quietly(*, name: str) -> None:
    """Refresh the mirror of ``name`` from MLflow before an action; when MLflow is
    unreachable the action goes on with the mirror as last reconciled."""
    try:
        registered_model_sync(name=name)
    except registry.RegistryNotFound:
        pass
    except registry.RegistryError as exc:
        logger.warning("acting on the mirror of %s: MLflow unavailable: %s", name, exc)


def model_version_require(*, model_name: str, version: int) -> ModelVersion:
    found = model_version_get(name=model_name, version=version)
    if found is None:
        raise NotFoundError(
            f"{model_name} v{version} is not in the registry",
            {"fields": {"version": [f"no version {version} of {model_name!r}"]}},
        )
    return found


def _enqueue_checks(request_id: int) -> None:
    from governance.tasks import promotion_checks_run

    transaction.on_commit(
        lambda: promotion_checks_run.delay(request_id=request_id), robust=True
    )


def promotion_request_create(
    *,
    user: Any,
    model_name: str,
    version: int,
    target: str,
    justification: str,
    kind: str = RequestKind.PROMOTION,
    policy: PromotionPolicy | None = None,
    via: str = "",
) -> PromotionRequest:
    """Ask for ``model_name`` v``version`` to become ``target`` (staging or
    production). Checks run as a task after the request is stored.

    ``policy`` lets trusted callers (management commands) bind the request to a
    policy other than the active one; the API and admin never pass it.
    """
    if target not in Stage.values:
        raise ApplicationError(
            f"unknown target {target!r}",
            {"fields": {"target": [f"must be one of {', '.join(Stage.values)}"]}},
        )
    if kind == RequestKind.PROMOTION and not permissions.can_request(user):
        raise permissions.deny(
            user,
            action="request_create",
            reason="only requesters (data scientists) may request promotions",
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
    mv = model_version_require(model_name=model_name, version=version)
    if policy is None:
        policy_target = (
            PolicyTarget.ROLLBACK if kind == RequestKind.ROLLBACK else target
        )
        policy = policy_active(target=policy_target)
        if policy is None:
            raise ConflictError(f"no active policy for {policy_target}")
    current = model_aliases(name=model_name).get(stage_alias(target))
    if current == mv.version and kind != RequestKind.EMERGENCY_ROLLBACK:
        raise ConflictError(
            f"{model_name} v{mv.version} is already {target}",
            code="already_there",
        )
    now = timezone.now()
    try:
        with transaction.atomic():
            request = PromotionRequest.objects.create(
                registered_model=mv.registered_model,
                model_version=mv,
                target=target,
                kind=kind,
                policy=policy,
                requester=user,
                justification=justification,
                status=request_status_initial(kind),
                expires_at=now + timedelta(hours=policy.expiry_hours),
            )
            audit_append(
                kind=AuditKind.REQUEST_CREATED,
                actor=user,
                model_name=model_name,
                version=mv.version,
                request_id=request.pk,
                payload={
                    "target": target,
                    "request_kind": kind,
                    "justification": justification,
                    "policy": policy.snapshot(),
                    "alias_now": current,
                    "via": via,
                },
            )
            _enqueue_checks(request.pk)
    except IntegrityError as exc:
        existing = (
            promotion_request_list()
            .filter(model_version=mv, target=target, status__in=OPEN_STATUSES)
            .values_list("pk", flat=True)
            .first()
        )
        raise ConflictError(
            f"an open request already asks for {model_name} v{mv.version} → {target}",
            {"request_id": existing} if existing else None,
            code="duplicate_request",
        ) from exc
    logger.info(
        "request #%s: %s v%s → %s by %s",
        request.pk,
        model_name,
        mv.version,
        target,
        user.get_username(),
    )
    return request


def promotion_request_cancel(
    *, request_id: int, user: Any, reason: str = "", via: str = ""
) -> PromotionRequest:
    """Cancel a request that has not been applied (its requester or an admin)."""
    request = promotion_request_get(request_id=request_id)
    if request is None:
        raise NotFoundError(f"no promotion request #{request_id}")
    if not permissions.can_cancel(user, request):
        raise permissions.deny(
            user,
            action="request_cancel",
            reason="only the requester or an admin may cancel a request",
            request=request,
            via=via,
        )
    with transaction.atomic():
        if not request_transition(request_id=request_id, name="cancel"):
            request.refresh_from_db()
            raise ConflictError(
                f"request #{request_id} is {request.status} and cannot be cancelled",
                code="invalid_state",
            )
        audit_append(
            kind=AuditKind.REQUEST_CANCELLED,
            actor=user,
            model_name=request.registered_model.name,
            version=request.model_version.version,
            request_id=request_id,
            payload={"reason": reason, "via": via},
        )
    request.refresh_from_db()
    return request


def promotion_expire_due(*, now=None) -> int:
    """Expire every pending request past its expiry (periodic task). Returns the
    number expired; each is audited and its requester told."""
    now = now or timezone.now()
    expired = 0
    due = PromotionRequest.objects.filter(
        status=RequestStatus.PENDING, expires_at__lte=now
    ).values_list("pk", flat=True)
    for request_id in list(due):
        with transaction.atomic():
            if not request_transition(request_id=request_id, name="expire", now=now):
                continue
            request = promotion_request_list().get(pk=request_id)
            audit_append(
                kind=AuditKind.REQUEST_EXPIRED,
                model_name=request.registered_model.name,
                version=request.model_version.version,
                request_id=request_id,
                payload={
                    "expires_at": request.expires_at.isoformat(),
                    "policy_expiry_hours": request.policy.expiry_hours,
                },
            )
            notifications.notify_requester(request, what="expired")
            expired += 1
    if expired:
        logger.info("expired %d promotion request(s)", expired)
    return expired
