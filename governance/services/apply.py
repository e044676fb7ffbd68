"""Applying approved requests: moving the MLflow aliases.

``promotion_apply`` claims the request (transition ``apply_start``: approved or
apply_failed → applying, attempt + 1), talks to MLflow outside any transaction,
then finishes its own attempt (``apply_finish`` or ``apply_fail``, only for
this attempt number). However often the task is delivered, and however many
workers run it at once, only one attempt can finish the request: there is
exactly one ``applied`` audit event.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core import registry
from governance.choices import AuditKind, RequestKind, RequestStatus, Stage
from governance.models import PromotionRequest
from governance.models.transitions import request_transition
from governance.selectors import fresh_approvers, promotion_request_list, stage_alias
from governance.services import notifications
from governance.services.audit import audit_append
from governance.services.mirror import mirror_alias_set, model_lock

logger = logging.getLogger(__name__)

TAG_REQUEST = "modelgate.request_id"
TAG_APPROVED_BY = "modelgate.approved_by"
MLFLOW_STAGES = {Stage.STAGING: "Staging", Stage.PRODUCTION: "Production"}


def _claim(request_id: int) -> PromotionRequest | None:
    """Move the request to applying for a new attempt, or None if it is not
    ours to apply (applied already, applying elsewhere, attempts exhausted)."""
    with transaction.atomic():
        if not request_transition(request_id=request_id, name="apply_start"):
            return None
        request = promotion_request_list().get(pk=request_id)
        audit_append(
            kind=AuditKind.APPLY_STARTED,
            model_name=request.registered_model.name,
            version=request.model_version.version,
            request_id=request_id,
            payload={"attempt": request.apply_attempts},
        )
    return request


def _approved_by(request: PromotionRequest) -> list[str]:
    if request.kind == RequestKind.EMERGENCY_ROLLBACK:
        return [f"emergency:{request.requester.get_username()}"]
    return fresh_approvers(request=request)


def _move_aliases(
    request: PromotionRequest, approvers: list[str]
) -> tuple[dict, int | None]:
    """The MLflow writes of one attempt (idempotent); returns the aliases moved
    and the version the target alias held before."""
    name = request.registered_model.name
    candidate = request.model_version.version
    target_alias = stage_alias(request.target)
    current = registry.alias_resolve(name, target_alias)
    if request.from_version is None and current is not None and current != candidate:
        # remember it before any write: a retry after a partial apply then
        # still knows which version to keep as `previous`
        PromotionRequest.objects.filter(
            pk=request.pk, from_version__isnull=True
        ).update(from_version=current)
        request.from_version = current
    registry.version_tag_set(name, candidate, TAG_REQUEST, str(request.pk))
    registry.version_tag_set(name, candidate, TAG_APPROVED_BY, ",".join(approvers))
    moved: dict[str, int] = {}
    if (
        request.target == Stage.PRODUCTION
        and request.from_version is not None
        and request.from_version != candidate
    ):
        registry.alias_set(name, stage_alias("previous"), request.from_version)
        moved[stage_alias("previous")] = request.from_version
    # the target alias moves last: any failure before leaves it unchanged
    registry.alias_set(name, target_alias, candidate)
    moved[target_alias] = candidate
    if settings.GOVERNANCE["MIRROR_STAGES"]:
        registry.version_stage_set(name, candidate, MLFLOW_STAGES[request.target])
    return moved, current


def _fail(request: PromotionRequest, attempt: int, error: str) -> None:
    conf = settings.GOVERNANCE
    with transaction.atomic():
        if not request_transition(
            request_id=request.pk,
            name="apply_fail",
            where=Q(apply_attempts=attempt),
            apply_error=error[:4000],
        ):
            return
        final = attempt >= conf["APPLY_MAX_ATTEMPTS"]
        audit_append(
            kind=AuditKind.APPLY_FAILED,
            model_name=request.registered_model.name,
            alias=stage_alias(request.target),
            version=request.model_version.version,
            request_id=request.pk,
            payload={
                "error": error[:4000],
                "attempt": attempt,
                "max_attempts": conf["APPLY_MAX_ATTEMPTS"],
                "will_retry": not final,
            },
        )
        request.apply_attempts = attempt
        notifications.notify_ops_apply_failed(
            request,
            error=error
            + ("" if not final else "\n\nNo attempt left: apply it again by hand."),
        )


def _finish(
    request: PromotionRequest,
    attempt: int,
    moved: dict[str, int],
    before: int | None,
    approvers: list[str],
) -> bool:
    now = timezone.now()
    name = request.registered_model.name
    with transaction.atomic():
        model_lock(name=name)  # the reconciler compares under this lock
        if not request_transition(
            request_id=request.pk,
            name="apply_finish",
            now=now,
            where=Q(apply_attempts=attempt),
        ):
            return False
        policy = request.policy.snapshot()
        for alias, version in moved.items():
            mirror_alias_set(
                model=request.registered_model, alias=alias, version=version
            )
            audit_append(
                kind=AuditKind.ALIAS_MOVED,
                model_name=name,
                alias=alias,
                version=version,
                request_id=request.pk,
                payload={
                    "reason": request.kind,
                    "from_version": before
                    if alias == stage_alias(request.target)
                    else None,
                    "approved_by": approvers,
                    "requester": request.requester.get_username(),
                    "policy": policy,
                },
            )
        audit_append(
            kind=AuditKind.APPLIED,
            model_name=name,
            alias=stage_alias(request.target),
            version=request.model_version.version,
            request_id=request.pk,
            payload={
                "aliases": moved,
                "from_version": request.from_version,
                "approved_by": approvers,
                "attempt": attempt,
                "policy": policy,
            },
        )
        notifications.notify_ops_applied(request, aliases=moved)
        if request.kind == RequestKind.EMERGENCY_ROLLBACK:
            request.refresh_from_db()
            notifications.notify_emergency(request)
        transaction.on_commit(lambda: _recheck_model(name), robust=True)
    return True


def _recheck_model(name: str) -> None:
    """The champion changed: other open requests of the model get new evidence."""
    from governance.services.checks import promotion_checks_schedule

    promotion_checks_schedule(model_name=name)


def promotion_apply(*, request_id: int) -> PromotionRequest | None:
    """Apply an approved (or failed) request; safe to call any number of times.

    Returns the request after this call, or None when there was nothing to do.
    """
    request = _claim(request_id)
    if request is None:
        logger.info("request #%s: nothing to apply", request_id)
        return None
    attempt = request.apply_attempts
    approvers = _approved_by(request)
    try:
        moved, before = _move_aliases(request, approvers)
    except registry.RegistryError as exc:
        logger.warning(
            "apply of request #%s failed (attempt %s): %s", request_id, attempt, exc
        )
        _fail(request, attempt, str(exc))
    except Exception as exc:
        logger.exception(
            "apply of request #%s crashed (attempt %s)", request_id, attempt
        )
        _fail(request, attempt, f"{type(exc).__name__}: {exc}")
    else:
        if _finish(request, attempt, moved, before, approvers):
            logger.info(
                "request #%s applied: %s %s",
                request_id,
                request.registered_model.name,
                moved,
            )
    request.refresh_from_db()
    return request


def promotion_apply_retry_due(*, lost_after_seconds: int = 60) -> list[int]:
    """Apply what should have been applied: failed applies with attempts left,
    applies whose worker vanished (lease over) and approved requests whose task
    was lost (approved more than ``lost_after_seconds`` ago). Returns their ids."""
    conf = settings.GOVERNANCE
    now = timezone.now()
    due = PromotionRequest.objects.filter(
        Q(status=RequestStatus.APPLY_FAILED)
        | Q(
            status=RequestStatus.APPLYING,
            apply_started_at__lt=now - timedelta(seconds=conf["APPLY_LEASE_SECONDS"]),
        )
        | Q(
            status=RequestStatus.APPROVED,
            decided_at__lt=now - timedelta(seconds=lost_after_seconds),
        ),
        apply_attempts__lt=conf["APPLY_MAX_ATTEMPTS"],
    ).order_by("decided_at")
    done = []
    for request_id in list(due.values_list("pk", flat=True)):
        result = promotion_apply(request_id=request_id)
        if result is not None and result.status == RequestStatus.APPLIED:
            done.append(request_id)
    return done
