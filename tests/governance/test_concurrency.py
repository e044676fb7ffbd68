"""RELIABILITY check 14 on PostgreSQL: reviewers acting at the same instant
(threads, each with its own database connection) give exactly one apply and
one ``applied`` event; concurrent audit appends never fork the chain."""

import pytest

from core.exceptions import ConflictError
from governance.choices import AuditKind, RequestStatus
from governance.models import AuditEvent, PromotionRequest
from governance.services.apply import promotion_apply
from governance.services.approvals import promotion_approve
from governance.services.audit import audit_append, audit_verify
from tests.governance.racing import at_once

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("governance_defaults"),
]


def test_two_production_approvers_at_the_same_instant_apply_once(
    people, model_factory, in_staging, open_request, mlflow_aliases
):
    name = model_factory(versions=3)
    for version in (1, 2, 3):
        in_staging(name, version)
        request = open_request(name, version, "production")

        results = at_once(
            lambda r=request: promotion_approve(request_id=r.pk, user=people.carol),
            lambda r=request: promotion_approve(request_id=r.pk, user=people.dave),
        )

        assert not [r for r in results if isinstance(r, Exception)], results
        request.refresh_from_db()
        assert request.status == RequestStatus.APPLIED, request.apply_error
        events = AuditEvent.objects.filter(request_ref=request.pk)
        assert events.filter(kind=AuditKind.REQUEST_APPROVED).count() == 1
        applied = events.filter(kind=AuditKind.APPLIED)
        assert applied.count() == 1
        assert mlflow_aliases(name)["production"] == applied.get().version == version
    assert audit_verify().ok


def test_two_staging_approvers_at_the_same_instant_apply_once(
    people, model_factory, open_request, mlflow_aliases
):
    name = model_factory(versions=3)
    for version in (1, 2, 3):
        request = open_request(name, version, "staging")
        results = at_once(
            lambda r=request: promotion_approve(request_id=r.pk, user=people.bob),
            lambda r=request: promotion_approve(request_id=r.pk, user=people.bea),
        )
        refused = [r for r in results if isinstance(r, Exception)]
        assert len(refused) == 1 and isinstance(refused[0], ConflictError), results
        request.refresh_from_db()
        assert request.status == RequestStatus.APPLIED
        assert (
            AuditEvent.objects.filter(
                request_ref=request.pk, kind=AuditKind.APPLIED
            ).count()
            == 1
        )
        assert mlflow_aliases(name)["staging"] == version
    assert audit_verify().ok


def test_apply_delivered_twice_at_once_applies_once(
    settings, people, model_factory, open_request, mlflow_aliases
):
    # the apply task is not run on approval here: two deliveries race for it
    settings.CELERY_TASK_ALWAYS_EAGER = True
    name = model_factory(versions=1)
    request = open_request(name, 1, "staging")
    PromotionRequest.objects.filter(pk=request.pk).update(status=RequestStatus.APPROVED)

    results = at_once(
        lambda: promotion_apply(request_id=request.pk),
        lambda: promotion_apply(request_id=request.pk),
        lambda: promotion_apply(request_id=request.pk),
    )

    assert sum(r is not None for r in results) == 1, results
    request.refresh_from_db()
    assert request.status == RequestStatus.APPLIED
    assert request.apply_attempts == 1
    assert (
        AuditEvent.objects.filter(
            request_ref=request.pk, kind=AuditKind.APPLIED
        ).count()
        == 1
    )
    assert mlflow_aliases(name)["staging"] == 1


def test_concurrent_audit_appends_never_share_a_previous_hash(db):
    def burst(index):
        def run():
            for n in range(15):
                audit_append(
                    kind=AuditKind.RECONCILED, payload={"thread": index, "n": n}
                )
            return True

        return run

    results = at_once(*(burst(i) for i in range(6)))
    assert results == [True] * 6
    events = list(AuditEvent.objects.order_by("sequence"))
    assert [e.sequence for e in events] == list(range(1, 91))
    assert len({e.prev_hash for e in events}) == 90
    assert audit_verify().ok
