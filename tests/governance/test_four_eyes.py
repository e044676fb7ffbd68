"""RELIABILITY check 6: four-eyes. Every denial answers 403, leaves the MLflow
alias where it was and is written to the audit ledger."""

import pytest
from django.urls import reverse

from governance.choices import AuditKind, RequestStatus
from governance.models import Approval, AuditEvent
from governance.services.audit import audit_verify


def _denials(request_id, actor, code):
    return AuditEvent.objects.filter(
        kind=AuditKind.DENIED,
        actor=actor,
        request_ref=request_id,
        payload__code=code,
    )


@pytest.fixture
def self_approver(make_user):
    """A data scientist who is also a staging approver (the risky combination)."""
    return make_user("sam", roles=["requesters", "staging_approvers"], is_staff=True)


def test_self_approval_through_the_api_is_refused_and_audited(
    client, self_approver, model_factory, open_request, mlflow_aliases
):
    name = model_factory(versions=1)
    request = open_request(name, 1, "staging", user=self_approver)
    client.force_login(self_approver)

    response = client.post(
        reverse("governance:api-request-approve", args=[request.pk]),
        {"comment": "looks good to me"},
        content_type="application/json",
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "self_approval"
    assert mlflow_aliases(name) == {}
    assert not Approval.objects.filter(request=request).exists()
    denial = _denials(request.pk, "sam", "self_approval").get()
    assert denial.payload["via"] == "api"
    assert audit_verify().ok


def test_self_approval_through_an_admin_action_is_refused_and_audited(
    client, self_approver, model_factory, open_request, mlflow_aliases
):
    name = model_factory(versions=1)
    request = open_request(name, 1, "staging", user=self_approver)
    client.force_login(self_approver)

    # the queue hides one's own requests; "All open" lists them
    response = client.post(
        reverse("admin:governance_promotionrequest_changelist") + "?queue=open",
        {"action": "approve_selected", "_selected_action": [request.pk]},
    )

    assert response.status_code == 403
    assert "four-eyes" in response.content.decode()
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING
    assert mlflow_aliases(name) == {}
    assert _denials(request.pk, "sam", "self_approval").get().payload["via"] == (
        "admin-action"
    )


def test_self_approval_through_the_admin_form_is_refused_and_audited(
    client, self_approver, model_factory, open_request, mlflow_aliases
):
    name = model_factory(versions=1)
    request = open_request(name, 1, "staging", user=self_approver)
    client.force_login(self_approver)
    url = reverse("admin:governance_promotionrequest_change", args=[request.pk])

    page = client.get(url)
    assert page.status_code == 200
    assert 'id="approve-button"' not in page.content.decode()  # not offered

    response = client.post(
        url,
        {
            "decision": "approve",
            "comment": "",
            "evidence_digest": request.evidence_digest,
        },
    )

    assert response.status_code == 403
    assert "your own request" in response.content.decode()
    assert mlflow_aliases(name) == {}
    assert _denials(request.pk, "sam", "self_approval").get().payload["via"] == (
        "admin-form"
    )


def test_staging_approver_cannot_approve_production(
    client, people, model_factory, in_staging, open_request, mlflow_aliases
):
    name = model_factory(versions=1)
    in_staging(name, 1)
    request = open_request(name, 1, "production")
    client.force_login(people.bob)

    response = client.post(
        reverse("governance:api-request-approve", args=[request.pk]),
        {},
        content_type="application/json",
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_an_approver"
    assert mlflow_aliases(name) == {"staging": 1}
    assert _denials(request.pk, "bob", "not_an_approver").exists()


def test_an_approver_counts_once(
    client, people, model_factory, in_staging, open_request, mlflow_aliases
):
    name = model_factory(versions=1)
    in_staging(name, 1)
    request = open_request(name, 1, "production")
    client.force_login(people.carol)
    url = reverse("governance:api-request-approve", args=[request.pk])

    first = client.post(url, {}, content_type="application/json")
    second = client.post(url, {}, content_type="application/json")

    assert first.status_code == 200
    assert first.json()["status"] == "pending"
    assert second.status_code == 403
    assert second.json()["error"]["code"] == "already_approved"
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING  # 1 of 2
    assert Approval.objects.filter(request=request).count() == 1
    assert "production" not in mlflow_aliases(name)
    assert _denials(request.pk, "carol", "already_approved").exists()


def test_admin_cannot_approve_their_own_request_either(
    client, people, model_factory, open_request, mlflow_aliases
):
    name = model_factory(versions=1)
    request = open_request(name, 1, "staging", user=people.admin)
    client.force_login(people.admin)
    response = client.post(
        reverse("governance:api-request-approve", args=[request.pk]),
        {},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert mlflow_aliases(name) == {}


def test_viewers_ops_and_clients_cannot_request_or_approve(
    client, people, model_factory, open_request
):
    name = model_factory(versions=1)
    request = open_request(name, 1, "staging")
    for user in (people.victor, people.erin, people.client):
        client.force_login(user)
        create = client.post(
            reverse("governance:api-requests"),
            {"model": name, "version": 1, "target": "staging", "justification": "x"},
            content_type="application/json",
        )
        approve = client.post(
            reverse("governance:api-request-approve", args=[request.pk]),
            {},
            content_type="application/json",
        )
        assert (create.status_code, approve.status_code) == (403, 403), user
    assert AuditEvent.objects.filter(kind=AuditKind.DENIED).count() == 6
