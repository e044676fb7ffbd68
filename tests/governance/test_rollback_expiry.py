"""Expiry of undecided requests, rollback under the rollback policy, and the
emergency rollback that applies at once and needs confirmation afterwards."""

from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from governance.choices import AuditKind, RequestKind, RequestStatus
from governance.models import AuditEvent
from governance.selectors import emergency_rollbacks_unconfirmed
from governance.services.approvals import emergency_rollback_confirm, promotion_approve
from governance.services.requests import promotion_expire_due
from governance.services.rollback import emergency_overdue_notify
from governance.tasks import promotion_housekeeping


def test_undecided_request_expires_after_the_policy_lifetime(
    people, model_factory, open_request, commits
):
    name = model_factory(versions=1)
    request = open_request(name, 1, "staging")
    lifetime = request.expires_at - request.created_at
    assert abs(lifetime - timedelta(hours=168)) < timedelta(seconds=1)
    assert promotion_expire_due() == 0

    later = request.expires_at + timedelta(seconds=1)
    mail.outbox.clear()
    with mock.patch("django.utils.timezone.now", return_value=later), commits():
        result = promotion_housekeeping()
    assert result["expired"] == 1
    request.refresh_from_db()
    assert request.status == RequestStatus.EXPIRED
    assert (
        AuditEvent.objects.filter(
            kind=AuditKind.REQUEST_EXPIRED, request_ref=request.pk
        ).count()
        == 1
    )
    assert mail.outbox[-1].to == ["alice@example.com"]
    # expired is final: no approval afterwards, and a second run does nothing
    from core.exceptions import ConflictError

    with pytest.raises(ConflictError):
        promotion_approve(request_id=request.pk, user=people.bob)
    with mock.patch("django.utils.timezone.now", return_value=later):
        assert promotion_expire_due() == 0


def test_rollback_brings_previous_back_with_one_production_approver(
    client, people, model_factory, in_production, commits, mlflow_aliases
):
    name = model_factory(versions=2)
    in_production(name, 1)
    in_production(name, 2)
    assert mlflow_aliases(name) == {"staging": 2, "production": 2, "previous": 1}

    client.force_login(people.erin)  # ops asks
    with commits():
        response = client.post(
            reverse("governance:api-rollback", args=[name]),
            {"justification": "v2 misclassifies receipts"},
            content_type="application/json",
        )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["kind"], body["version"], body["target"]) == (
        "rollback",
        1,
        "production",
    )
    assert body["policy"]["target"] == "rollback"
    assert body["policy"]["approvals_required"] == 1

    client.force_login(people.carol)
    with commits():
        approved = client.post(
            reverse("governance:api-request-approve", args=[body["id"]]),
            {"comment": "yes"},
            content_type="application/json",
        )
    assert approved.status_code == 200
    assert approved.json()["status"] == "approved"  # the apply task runs after commit
    from governance.models import PromotionRequest

    assert PromotionRequest.objects.get(pk=body["id"]).status == "applied"
    assert mlflow_aliases(name) == {"staging": 2, "production": 1, "previous": 2}


def test_emergency_rollback_applies_at_once_and_waits_for_confirmation(
    client, people, model_factory, in_production, commits, mlflow_aliases
):
    name = model_factory(versions=2)
    in_production(name, 1)
    in_production(name, 2)
    mail.outbox.clear()

    client.force_login(people.erin)
    with commits():
        response = client.post(
            reverse("governance:api-emergency-rollback", args=[name]),
            {"justification": "spam floods through v2"},
            content_type="application/json",
        )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["kind"] == RequestKind.EMERGENCY_ROLLBACK
    assert body["status"] == "applied"
    assert mlflow_aliases(name)["production"] == 1
    assert [r.pk for r in emergency_rollbacks_unconfirmed(model_name=name)] == [
        body["id"]
    ]
    # approvers and ops were told it needs confirmation; the page flags it
    assert any("Emergency rollback" in m.subject for m in mail.outbox)
    page = client.get(reverse("governance:model-detail", args=[name]))
    assert "awaiting confirmation" in page.content.decode()

    # the ops user who did it cannot confirm it; a production approver can
    from governance.permissions import GovernanceDenied

    with pytest.raises(GovernanceDenied):
        emergency_rollback_confirm(request_id=body["id"], user=people.erin)
    client.force_login(people.dave)
    confirmed = client.post(
        reverse("governance:api-request-confirm", args=[body["id"]]),
        {"comment": "right call"},
        content_type="application/json",
    )
    assert confirmed.status_code == 200
    assert confirmed.json()["confirmed_by"] == "dave"
    assert not emergency_rollbacks_unconfirmed(model_name=name).exists()


def test_only_ops_may_start_an_emergency_rollback(
    client, people, model_factory, in_production, mlflow_aliases
):
    name = model_factory(versions=2)
    in_production(name, 1)
    in_production(name, 2)
    client.force_login(people.carol)
    response = client.post(
        reverse("governance:api-emergency-rollback", args=[name]),
        {"justification": "x"},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert mlflow_aliases(name)["production"] == 2


def test_overdue_emergency_confirmation_is_reported_once(
    client, people, model_factory, in_production, commits
):
    from governance.services.rollback import promotion_emergency_rollback

    name = model_factory(versions=2)
    in_production(name, 1)
    in_production(name, 2)
    with commits():
        request = promotion_emergency_rollback(
            user=people.erin, model_name=name, justification="incident 42"
        )
    later = request.confirm_by + timedelta(minutes=1)
    mail.outbox.clear()
    with mock.patch("django.utils.timezone.now", return_value=later), commits():
        assert emergency_overdue_notify() == 1
        assert emergency_overdue_notify() == 0
    assert any("NOT CONFIRMED" in m.subject for m in mail.outbox)
    assert AuditEvent.objects.filter(kind=AuditKind.EMERGENCY_OVERDUE).count() == 1


def test_rollback_without_previous_version_is_a_clear_conflict(
    client, people, model_factory, in_production
):
    name = model_factory(versions=1)
    in_production(name, 1)
    client.force_login(people.erin)
    response = client.post(
        reverse("governance:api-rollback", args=[name]),
        {"justification": "x"},
        content_type="application/json",
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "no_previous_version"
    assert timezone.now()
