"""The promotion request's transition table and the one helper that applies it:
a legal transition moves the row, an illegal one updates nothing, and two
actions racing for one request have exactly one winner (PostgreSQL: threads
with their own connections)."""

from __future__ import annotations

import ast
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.db.models import Q
from django.utils import timezone

from governance.choices import PolicyTarget, RequestKind, RequestStatus
from governance.models import (
    ModelVersion,
    PromotionPolicy,
    PromotionRequest,
    RegisteredModel,
)
from governance.models.transitions import (
    TRANSITIONS,
    request_status_initial,
    request_transition,
)
from tests.governance.racing import at_once

S = RequestStatus
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def make_request(make_user):
    """``make_request(status=..., **fields)`` → a request of its own model
    version, put in ``status`` directly (the setup, not a transition)."""
    requester = make_user(f"req-{uuid.uuid4().hex[:8]}")

    def make(status: str = S.PENDING, **fields) -> PromotionRequest:
        model = RegisteredModel.objects.create(name=f"tr-{uuid.uuid4().hex[:10]}")
        version = ModelVersion.objects.create(registered_model=model, version=1)
        request = PromotionRequest.objects.create(
            registered_model=model,
            model_version=version,
            target="staging",
            policy=PromotionPolicy.objects.get(
                target=PolicyTarget.STAGING, is_active=True
            ),
            requester=requester,
            justification="transition test",
            expires_at=timezone.now() + timedelta(hours=1),
        )
        PromotionRequest.objects.filter(pk=request.pk).update(status=status, **fields)
        request.refresh_from_db()
        return request

    return make


def _row(request: PromotionRequest) -> dict:
    return PromotionRequest.objects.filter(pk=request.pk).values().get()


# ------------------------------------------------------------------ the table
def test_the_table_is_the_documented_life_cycle():
    table = {
        name: (set(t.sources), t.target) for name, t in sorted(TRANSITIONS.items())
    }

    assert table == {
        "apply_fail": ({S.APPLYING}, S.APPLY_FAILED),
        "apply_finish": ({S.APPLYING}, S.APPLIED),
        "apply_start": ({S.APPROVED, S.APPLY_FAILED, S.APPLYING}, S.APPLYING),
        "approve": ({S.PENDING}, S.APPROVED),
        "cancel": ({S.PENDING, S.APPROVED, S.APPLY_FAILED}, S.CANCELLED),
        "confirm_emergency": ({S.APPLIED}, S.APPLIED),
        "expire": ({S.PENDING}, S.EXPIRED),
        "reject": ({S.PENDING}, S.REJECTED),
        "reopen": ({S.APPROVED, S.APPLY_FAILED}, S.PENDING),
    }
    # terminal states have no way out
    sources = set().union(*(t.sources for t in TRANSITIONS.values()))
    assert not sources & {S.REJECTED, S.CANCELLED, S.EXPIRED}


def test_an_emergency_rollback_starts_approved_every_other_request_pending():
    assert request_status_initial(RequestKind.EMERGENCY_ROLLBACK) == S.APPROVED
    assert request_status_initial(RequestKind.PROMOTION) == S.PENDING
    assert request_status_initial(RequestKind.ROLLBACK) == S.PENDING


def test_no_service_writes_a_request_status_itself():
    """Only the transition helper sets ``status`` in an UPDATE: no ``.update()``
    call with a ``status`` keyword anywhere else in governance."""
    offenders = []
    for path in sorted((ROOT / "governance").rglob("*.py")):
        if "migrations" in path.parts or path.name == "transitions.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "update"
                and any(k.arg == "status" for k in node.keywords)
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders


# --------------------------------------------------------------- the helper
@pytest.mark.django_db
def test_a_legal_transition_moves_the_row_and_writes_its_stamps(make_request):
    request = make_request(S.PENDING)
    now = timezone.now()

    moved = request_transition(request_id=request.pk, name="approve", now=now)

    row = _row(request)
    assert moved is True
    assert row["status"] == S.APPROVED
    assert row["decided_at"] == now
    assert row["updated_at"] == now


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(TRANSITIONS))
def test_a_transition_from_any_other_status_updates_nothing(make_request, name):
    transition = TRANSITIONS[name]
    for status in sorted(set(S.values) - transition.sources):
        request = make_request(status)
        before = _row(request)

        moved = request_transition(request_id=request.pk, name=name)

        assert moved is False, (name, status)
        assert _row(request) == before, (name, status)


@pytest.mark.django_db
def test_the_same_transition_twice_wins_once(make_request):
    request = make_request(S.PENDING)

    first = request_transition(request_id=request.pk, name="cancel")
    second = request_transition(request_id=request.pk, name="cancel")

    assert (first, second) == (True, False)


@pytest.mark.django_db
def test_expire_waits_for_the_deadline(make_request):
    request = make_request(S.PENDING)

    early = request_transition(request_id=request.pk, name="expire")
    late = request_transition(
        request_id=request.pk,
        name="expire",
        now=request.expires_at + timedelta(seconds=1),
    )

    assert (early, late) == (False, True)
    assert _row(request)["status"] == S.EXPIRED


@pytest.mark.django_db
def test_apply_start_takes_over_an_apply_only_when_its_lease_is_over(
    settings, make_request
):
    lease = settings.GOVERNANCE["APPLY_LEASE_SECONDS"]
    now = timezone.now()
    request = make_request(S.APPLYING, apply_started_at=now, apply_attempts=1)

    during = request_transition(request_id=request.pk, name="apply_start", now=now)
    after = request_transition(
        request_id=request.pk,
        name="apply_start",
        now=now + timedelta(seconds=lease + 1),
    )

    assert (during, after) == (False, True)
    assert _row(request)["apply_attempts"] == 2


@pytest.mark.django_db
def test_apply_start_stops_when_the_attempts_are_used(settings, make_request):
    cap = settings.GOVERNANCE["APPLY_MAX_ATTEMPTS"]
    request = make_request(S.APPLY_FAILED, apply_attempts=cap)

    assert request_transition(request_id=request.pk, name="apply_start") is False
    assert _row(request)["status"] == S.APPLY_FAILED


@pytest.mark.django_db
def test_only_the_attempt_that_claimed_the_request_finishes_it(make_request):
    request = make_request(S.APPLYING, apply_attempts=2)

    stale = request_transition(
        request_id=request.pk,
        name="apply_fail",
        where=Q(apply_attempts=1),
        apply_error="late worker",
    )

    assert stale is False
    assert _row(request)["status"] == S.APPLYING


@pytest.mark.django_db
def test_an_emergency_rollback_is_confirmed_once(make_request, make_user):
    request = make_request(S.APPLIED)
    approver = make_user("confirmer")

    first = request_transition(
        request_id=request.pk, name="confirm_emergency", confirmed_by=approver
    )
    second = request_transition(
        request_id=request.pk, name="confirm_emergency", confirmed_by=approver
    )

    assert (first, second) == (True, False)
    assert _row(request)["confirmed_by_id"] == approver.pk


def test_a_caller_cannot_set_the_status_or_name_an_unknown_transition():
    with pytest.raises(ValueError, match="status"):
        request_transition(request_id=1, name="cancel", status=S.APPLIED)
    with pytest.raises(ValueError, match="no request transition"):
        request_transition(request_id=1, name="approve_anyway")


# ------------------------------------------------------------- concurrency
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("governance_defaults")
def test_transitions_racing_out_of_pending_have_one_winner(make_request):
    # approve, reject and expire all leave pending: exactly one can happen
    names = ("approve", "approve", "reject", "expire")
    for _ in range(10):
        request = make_request(S.PENDING)
        late = request.expires_at + timedelta(seconds=1)

        results = at_once(
            *[
                lambda r=request, n=name, t=late: request_transition(
                    request_id=r.pk, name=n, now=t
                )
                for name in names
            ]
        )

        assert sorted(results) == [False, False, False, True], results
        winner = names[results.index(True)]
        assert _row(request)["status"] == TRANSITIONS[winner].target


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("governance_defaults")
def test_concurrent_apply_starts_claim_the_request_once(make_request):
    request = make_request(S.APPROVED)

    results = at_once(
        *[
            lambda: request_transition(request_id=request.pk, name="apply_start")
            for _ in range(4)
        ]
    )

    assert sorted(results) == [False, False, False, True], results
    assert _row(request)["apply_attempts"] == 1
