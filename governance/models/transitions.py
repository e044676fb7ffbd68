"""The life cycle of a promotion request: every legal status change, declared once.

Services ask for a transition by name; ``request_transition`` applies it with
one conditional UPDATE (``WHERE id = … AND status IN (sources) AND condition``)
and reports whether the row moved. Two concurrent actions can therefore never
both win a transition: the second finds the row no longer in a source state,
updates nothing and gets False. Services never write ``status`` themselves.

::

    pending ─approve→ approved ─apply_start→ applying ─apply_finish→ applied
    pending ─reject→ rejected        applying ─apply_fail→ apply_failed
    pending ─expire→ expired         apply_failed ─apply_start→ applying (retry)
    pending/approved/apply_failed ─cancel→ cancelled
    approved/apply_failed ─reopen→ pending (the evidence changed)
    applying ─apply_start→ applying (only once the worker's lease is over)
    applied ─confirm_emergency→ applied (an approver confirms an emergency
                                         rollback, once)

An emergency rollback starts approved (``request_status_initial``); every
other request starts pending.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from governance.choices import RequestKind, RequestStatus
from governance.models.promotion import PromotionRequest

S = RequestStatus


@dataclass(frozen=True)
class Transition:
    """A named status change: from any of ``sources`` to ``target``.

    ``condition(now)`` narrows the rows it applies to beyond their status (a
    lease that must be over, a deadline that must have passed); ``effects(now)``
    are the fields the step itself always writes (its time stamps).
    """

    name: str
    sources: frozenset[str]
    target: str
    condition: Callable[[datetime], Q] | None = None
    effects: Callable[[datetime], dict[str, Any]] | None = None


def _decided(now: datetime) -> dict[str, Any]:
    return {"decided_at": now}


def _claimable(now: datetime) -> Q:
    """Attempts left, and a request applying elsewhere only once that worker's
    lease is over (it vanished mid-apply)."""
    conf = settings.GOVERNANCE
    lease_over = now - timedelta(seconds=conf["APPLY_LEASE_SECONDS"])
    return Q(apply_attempts__lt=conf["APPLY_MAX_ATTEMPTS"]) & (
        ~Q(status=S.APPLYING) | Q(apply_started_at__lt=lease_over)
    )


TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        Transition("approve", frozenset({S.PENDING}), S.APPROVED, effects=_decided),
        Transition("reject", frozenset({S.PENDING}), S.REJECTED, effects=_decided),
        Transition(
            "expire",
            frozenset({S.PENDING}),
            S.EXPIRED,
            condition=lambda now: Q(expires_at__lte=now),
            effects=_decided,
        ),
        Transition(
            "cancel",
            frozenset({S.PENDING, S.APPROVED, S.APPLY_FAILED}),
            S.CANCELLED,
            effects=_decided,
        ),
        Transition(
            "reopen",
            frozenset({S.APPROVED, S.APPLY_FAILED}),
            S.PENDING,
            effects=lambda now: {"decided_at": None},
        ),
        Transition(
            "apply_start",
            frozenset({S.APPROVED, S.APPLY_FAILED, S.APPLYING}),
            S.APPLYING,
            condition=_claimable,
            effects=lambda now: {
                "apply_started_at": now,
                "apply_attempts": F("apply_attempts") + 1,
            },
        ),
        Transition(
            "apply_finish",
            frozenset({S.APPLYING}),
            S.APPLIED,
            effects=lambda now: {"applied_at": now, "apply_error": ""},
        ),
        Transition("apply_fail", frozenset({S.APPLYING}), S.APPLY_FAILED),
        Transition(
            "confirm_emergency",
            frozenset({S.APPLIED}),
            S.APPLIED,
            condition=lambda now: Q(confirmed_at__isnull=True),
            effects=lambda now: {"confirmed_at": now},
        ),
    )
}

INITIAL_STATUS: dict[str, str] = {
    RequestKind.PROMOTION: S.PENDING,
    RequestKind.ROLLBACK: S.PENDING,
    RequestKind.EMERGENCY_ROLLBACK: S.APPROVED,
}


def request_status_initial(kind: str) -> str:
    """The status a new request of ``kind`` is created in."""
    return INITIAL_STATUS[kind]


def request_transition(
    *,
    request_id: int,
    name: str,
    now: datetime | None = None,
    where: Q | None = None,
    **fields: Any,
) -> bool:
    """Apply transition ``name`` to request ``request_id`` by one conditional
    UPDATE. Returns True when this call moved the row, False when the request
    was not in a state the transition starts from (or its condition, or the
    caller's ``where``, did not hold): someone else acted first.

    ``fields`` are the step's data (an error text, the confirming approver);
    ``updated_at`` and the transition's own effects are written with them.
    """
    transition = TRANSITIONS.get(name)
    if transition is None:
        raise ValueError(f"no request transition {name!r} (see TRANSITIONS)")
    if "status" in fields:
        raise ValueError("the status is the transition's to set, not the caller's")
    now = now or timezone.now()
    conditions = [Q(status__in=sorted(transition.sources))]
    if transition.condition is not None:
        conditions.append(transition.condition(now))
    if where is not None:
        conditions.append(where)
    values = dict(transition.effects(now)) if transition.effects else {}
    values.update(fields, status=transition.target, updated_at=now)
    moved = PromotionRequest.objects.filter(*conditions, pk=request_id).update(**values)
    return moved == 1
