"""Reads of the governance app, for the other apps and the pages."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db.models import Prefetch, Q, QuerySet

from governance.choices import AuditKind, Decision, RequestKind, RequestStatus
from governance.models import (
    Approval,
    AuditEvent,
    ModelAlias,
    ModelVersion,
    PromotionPolicy,
    PromotionRequest,
    RegisteredModel,
)


def registered_model_list() -> QuerySet[RegisteredModel]:
    """Every mirrored model with its versions (newest first) and aliases."""
    return RegisteredModel.objects.prefetch_related(
        Prefetch("versions", queryset=ModelVersion.objects.order_by("-version")),
        Prefetch("aliases", queryset=ModelAlias.objects.select_related("version")),
    )


def registered_model_get(*, name: str) -> RegisteredModel | None:
    return registered_model_list().filter(name=name).first()


def model_version_get(*, name: str, version: int) -> ModelVersion | None:
    return (
        ModelVersion.objects.select_related("registered_model")
        .filter(registered_model__name=name, version=version)
        .first()
    )


def model_version_for_alias(*, name: str, alias: str) -> ModelVersion | None:
    """The mirrored version that ``name@alias`` points to, or None."""
    link = (
        ModelAlias.objects.select_related("version__registered_model")
        .filter(registered_model__name=name, alias=alias)
        .first()
    )
    return link.version if link else None


def model_aliases(*, name: str) -> dict[str, int]:
    return dict(
        ModelAlias.objects.filter(registered_model__name=name).values_list(
            "alias", "version__version"
        )
    )


# ------------------------------------------------------------ promotions
ALIAS_EVENT_KINDS = (AuditKind.ALIAS_MOVED, AuditKind.ALIAS_OUT_OF_BAND)


def stage_alias(stage: str) -> str:
    """The MLflow alias name of a stage (staging, production, previous)."""
    return settings.MODELGATE["STAGE_ALIASES"][stage]


def governed_aliases() -> dict[str, str]:
    """stage → alias name of every alias only Modelgate may move."""
    return dict(settings.MODELGATE["STAGE_ALIASES"])


def policy_list() -> QuerySet[PromotionPolicy]:
    """Every policy version with its approver group (newest first per target)."""
    return PromotionPolicy.objects.select_related("approver_group")


def policy_active(*, target: str) -> PromotionPolicy | None:
    return policy_list().filter(target=target, is_active=True).first()


def promotion_request_list() -> QuerySet[PromotionRequest]:
    return PromotionRequest.objects.select_related(
        "registered_model", "model_version", "policy__approver_group", "requester"
    ).prefetch_related(
        Prefetch("approvals", queryset=Approval.objects.select_related("approver"))
    )


def promotion_request_get(*, request_id: int) -> PromotionRequest | None:
    return promotion_request_list().filter(pk=request_id).first()


def review_queue(*, user) -> QuerySet[PromotionRequest]:
    """Pending requests whose approver group includes ``user`` (all for admins),
    excluding the user's own requests unless the policy lets requesters approve."""
    from governance.permissions import review_groups

    groups = review_groups(user)
    qs = promotion_request_list().filter(status=RequestStatus.PENDING)
    if "*" not in groups:
        qs = qs.filter(policy__approver_group__name__in=groups)
    return qs.exclude(
        Q(requester_id=user.pk) & Q(policy__requester_may_approve=False)
    ).order_by("created_at")


def fresh_approvers(*, request: PromotionRequest) -> list[str]:
    """Usernames whose approval of ``request`` currently counts."""
    return list(
        request.approvals.filter(decision=Decision.APPROVE, is_stale=False)
        .order_by("created_at")
        .values_list("approver__username", flat=True)
    )


def emergency_rollbacks_unconfirmed(
    *, model_name: str | None = None
) -> QuerySet[PromotionRequest]:
    """Applied emergency rollbacks still waiting for an approver's confirmation
    (flagged on the registry pages until confirmed)."""
    qs = promotion_request_list().filter(
        kind=RequestKind.EMERGENCY_ROLLBACK,
        status=RequestStatus.APPLIED,
        confirmed_at__isnull=True,
    )
    if model_name:
        qs = qs.filter(registered_model__name=model_name)
    return qs


def champion_version(*, name: str) -> ModelVersion | None:
    """The version production currently serves (the champion), per the mirror."""
    return model_version_for_alias(name=name, alias=stage_alias("production"))


# ---------------------------------------------------------- alias history
def _alias_events(*, model_name: str, alias: str) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(
        model_name=model_name, alias=alias, kind__in=ALIAS_EVENT_KINDS
    ).order_by("sequence")


def _segment(event: AuditEvent, end: datetime | None) -> dict:
    payload = event.payload
    return {
        "alias": event.alias,
        "version": event.version,
        "start": event.created_at,
        "end": end,
        "event_sequence": event.sequence,
        "kind": event.kind,
        "actor": event.actor,
        "by_modelgate": event.kind == AuditKind.ALIAS_MOVED,
        "request_id": event.request_ref,
        "reason": payload.get("reason", ""),
        "approved_by": payload.get("approved_by", []),
        "policy": payload.get("policy"),
    }


def alias_timeline(*, model_name: str, alias: str) -> list[dict]:
    """Who held ``model_name@alias`` when, from the audit ledger (oldest first).

    Each segment: version (None: alias unset), start, end (None: still holds),
    whether Modelgate set it, the request, approvers and policy snapshot.
    """
    events = list(_alias_events(model_name=model_name, alias=alias))
    return [
        _segment(e, events[i + 1].created_at if i + 1 < len(events) else None)
        for i, e in enumerate(events)
    ]


def alias_held_at(*, model_name: str, alias: str, at: datetime) -> dict | None:
    """Which version held ``alias`` at time ``at``, who approved it and under
    which policy; None if the ledger knows nothing of the alias before ``at``."""
    event = (
        _alias_events(model_name=model_name, alias=alias)
        .filter(created_at__lte=at)
        .order_by("-sequence")
        .first()
    )
    if event is None:
        return None
    following = (
        _alias_events(model_name=model_name, alias=alias)
        .filter(sequence__gt=event.sequence)
        .first()
    )
    return _segment(event, following.created_at if following else None)


def alias_desired(*, model_name: str, alias: str) -> tuple[bool, int | None]:
    """(known, version): where the ledger says ``alias`` should point. Not known
    when Modelgate never recorded the alias."""
    event = (
        _alias_events(model_name=model_name, alias=alias).order_by("-sequence").first()
    )
    if event is None:
        return False, None
    return True, event.version


def staging_minutes(
    *, model_name: str, version: int, now: datetime
) -> tuple[float, datetime | None]:
    """Minutes ``version`` held the staging alias set by Modelgate (summed over
    every period), and when the latest such period began."""
    total, since = 0.0, None
    for seg in alias_timeline(model_name=model_name, alias=stage_alias("staging")):
        if seg["version"] != version or not seg["by_modelgate"]:
            continue
        end = seg["end"] or now
        total += max((end - seg["start"]).total_seconds(), 0.0) / 60
        since = seg["start"]
    return total, since


def audit_event_list() -> QuerySet[AuditEvent]:
    return AuditEvent.objects.order_by("-sequence")
