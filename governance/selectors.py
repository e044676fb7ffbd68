"""Reads of the governance app, for the other apps and the pages."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Prefetch, Q, QuerySet

from governance.choices import (
    AuditKind,
    ChecksStatus,
    Decision,
    RequestKind,
    RequestStatus,
)
from governance.models import (
    Approval,
    AuditChainHead,
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
    # only what can be approved now: requests whose checks failed (or still
    # run) wait for the requester or the checks, not for the reviewer
    qs = promotion_request_list().filter(
        status=RequestStatus.PENDING, checks_status=ChecksStatus.PASSED
    )
    mine = Q(policy__approver_group__name__in=groups - {"*"})
    if "*" in groups:  # a superuser: also where the policy lets them approve
        mine |= Q(policy__superuser_may_approve=True)
    qs = qs.filter(mine)
    return qs.exclude(
        Q(requester_id=user.pk) & Q(policy__requester_may_approve=False)
    ).order_by("created_at")


def fresh_approvers(*, request: PromotionRequest) -> list[str]:
    """Usernames whose approval of ``request`` currently counts: not stale,
    and given by someone who may still approve under its policy (active, in
    the approver group, or a superuser where the policy lets them)."""
    policy = request.policy
    eligible = Q(groups=policy.approver_group_id)
    if policy.superuser_may_approve:
        eligible |= Q(is_superuser=True)
    may_approve = get_user_model().objects.filter(eligible, is_active=True)
    return list(
        request.approvals.filter(
            decision=Decision.APPROVE,
            is_stale=False,
            approver__in=may_approve.values("pk"),
        )
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


def alias_confirmed(*, model_name: str, alias: str) -> int | None:
    """The version ``model_name@alias`` points to as Modelgate moved it (the
    last ``alias_moved`` event of the ledger: an approved apply, a rollback, a
    revert, a recorded setup move); None when Modelgate never set it or unset
    it. What clients are served: a move made directly in MLflow is flagged by
    the reconciler (``alias_out_of_band``) but never confirms a version."""
    event = (
        AuditEvent.objects.filter(
            model_name=model_name, alias=alias, kind=AuditKind.ALIAS_MOVED
        )
        .order_by("-sequence")
        .values_list("version", flat=True)
        .first()
    )
    return event


def serving_override_active(*, model_name: str, version: int) -> dict | None:
    """The audited override that lets ``model_name`` v``version`` be served
    although its model tests failed or never ran: ``{"sequence", "actor",
    "reason", "at"}`` of the grant, or None (never granted, or revoked since)."""
    event = (
        AuditEvent.objects.filter(
            model_name=model_name, version=version, kind=AuditKind.SERVING_OVERRIDE
        )
        .order_by("-sequence")
        .first()
    )
    if event is None or event.payload.get("action") != "grant":
        return None
    return {
        "sequence": event.sequence,
        "actor": event.actor,
        "reason": event.payload.get("reason", ""),
        "at": event.created_at,
    }


def staging_segments(
    *, model_name: str, version: int
) -> list[tuple[datetime, datetime | None]]:
    """The periods (start, end; None: still holding) ``version`` held the
    staging alias as set by Modelgate, from the alias timeline of the ledger."""
    return [
        (seg["start"], seg["end"])
        for seg in alias_timeline(model_name=model_name, alias=stage_alias("staging"))
        if seg["version"] == version and seg["by_modelgate"]
    ]


def audit_chain_head() -> dict:
    """The chain head as an anchor: sequence, hash and key id of the last event
    (what is recorded outside the database to detect a rewrite)."""
    head = AuditChainHead.objects.filter(pk=1).first()
    last = AuditEvent.objects.order_by("-sequence").first()
    return {
        "sequence": head.last_sequence if head else 0,
        "hash": head.last_hash if head else "0" * 64,
        "key_id": last.key_id if last else "",
    }


def audit_event_list() -> QuerySet[AuditEvent]:
    return AuditEvent.objects.order_by("-sequence")
