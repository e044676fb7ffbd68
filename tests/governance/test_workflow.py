"""The promotion workflow end to end through the services, on a real local MLflow
store: aliases are read back through MlflowClient."""

import pytest
from django.core import mail

from governance.choices import AuditKind, ChecksStatus, RequestStatus
from governance.models import AuditEvent, PromotionRequest
from governance.selectors import alias_held_at, alias_timeline
from governance.services.approvals import promotion_approve, promotion_reject
from governance.services.audit import audit_verify
from governance.services.requests import (
    promotion_request_cancel,
    promotion_request_create,
)

pytestmark = pytest.mark.usefixtures("no_staging_wait")


def _promote(commits, people, name, version, target, approvers):
    with commits():
        request = promotion_request_create(
            user=people.alice,
            model_name=name,
            version=version,
            target=target,
            justification=f"v{version} to {target}",
        )
    request.refresh_from_db()
    assert request.checks_status == ChecksStatus.PASSED, request.evidence
    for approver in approvers:
        with commits():
            promotion_approve(request_id=request.pk, user=approver, comment="ok")
    request.refresh_from_db()
    return request


def test_happy_path_staging_then_production_moves_the_mlflow_aliases(
    people, model_factory, commits, mlflow_aliases
):
    name = model_factory(versions=2)

    # v1: staging (one staging approver), then production (two production approvers)
    staging = _promote(commits, people, name, 1, "staging", [people.bob])
    assert staging.status == RequestStatus.APPLIED
    assert mlflow_aliases(name) == {"staging": 1}

    mail.outbox.clear()
    production = _promote(
        commits, people, name, 1, "production", [people.carol, people.dave]
    )
    assert production.status == RequestStatus.APPLIED
    assert mlflow_aliases(name) == {"staging": 1, "production": 1}
    # ops heard of the apply; the requester of the decision
    subjects = [m.subject for m in mail.outbox]
    assert any("Applied" in s for s in subjects)
    assert any("Request approved" in s for s in subjects)

    # v2 all the way: production moves, previous keeps v1
    _promote(commits, people, name, 2, "staging", [people.bea])
    second = _promote(
        commits, people, name, 2, "production", [people.dave, people.carol]
    )
    assert second.status == RequestStatus.APPLIED
    assert mlflow_aliases(name) == {"staging": 2, "production": 2, "previous": 1}

    # MLflow tags name the request and its approvers
    from core import registry

    tags = registry.version_get(name, 2).tags
    assert tags["modelgate.request_id"] == str(second.pk)
    assert tags["modelgate.approved_by"] == "dave,carol"

    # the ledger verifies and answers who held production when
    assert audit_verify().ok
    assert (
        AuditEvent.objects.filter(kind=AuditKind.APPLIED, request_ref=second.pk).count()
        == 1
    )
    timeline = alias_timeline(model_name=name, alias="production")
    assert [s["version"] for s in timeline] == [1, 2]
    first_period = timeline[0]
    held = alias_held_at(model_name=name, alias="production", at=first_period["start"])
    assert held["version"] == 1
    assert held["approved_by"] == ["carol", "dave"]
    assert held["policy"]["target"] == "production"
    assert held["policy"]["approvals_required"] == 2


def test_one_approval_does_not_apply_a_two_approval_policy(
    people, model_factory, commits, mlflow_aliases
):
    name = model_factory(versions=1)
    _promote(commits, people, name, 1, "staging", [people.bob])
    request = _promote(commits, people, name, 1, "production", [people.carol])
    assert request.status == RequestStatus.PENDING
    assert "production" not in mlflow_aliases(name)


def test_rejection_ends_the_request_and_tells_the_requester(
    people, model_factory, commits, mlflow_aliases
):
    name = model_factory(versions=1)
    with commits():
        request = promotion_request_create(
            user=people.alice,
            model_name=name,
            version=1,
            target="staging",
            justification="try",
        )
    mail.outbox.clear()
    with commits():
        promotion_reject(request_id=request.pk, user=people.bob, comment="not yet")
    request.refresh_from_db()
    assert request.status == RequestStatus.REJECTED
    assert mlflow_aliases(name) == {}
    assert mail.outbox[-1].to == ["alice@example.com"]
    assert "not yet" in mail.outbox[-1].body


def test_requester_cancels_and_no_one_else_can(people, model_factory, commits):
    from governance.permissions import GovernanceDenied

    name = model_factory(versions=1)
    with commits():
        request = promotion_request_create(
            user=people.alice,
            model_name=name,
            version=1,
            target="staging",
            justification="try",
        )
    with pytest.raises(GovernanceDenied):
        promotion_request_cancel(request_id=request.pk, user=people.amos)
    promotion_request_cancel(request_id=request.pk, user=people.alice)
    assert PromotionRequest.objects.get(pk=request.pk).status == RequestStatus.CANCELLED
    assert AuditEvent.objects.filter(
        kind=AuditKind.DENIED, actor="amos", request_ref=request.pk
    ).exists()
