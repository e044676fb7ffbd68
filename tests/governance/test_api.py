"""The governance API: create and list requests, mass assignment, CSRF for
session writes, token auth, alias history, JSON errors, the OpenAPI schema."""

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token

from governance.choices import RequestStatus
from governance.models import Approval, PromotionRequest


def _post(client, name, data, *args, **extra):
    return client.post(
        reverse(name, args=args), data, content_type="application/json", **extra
    )


def test_create_ignores_mass_assigned_fields(client, people, model_factory, commits):
    name = model_factory(versions=1)
    client.force_login(people.alice)
    with commits():
        response = _post(
            client,
            "governance:api-requests",
            {
                "model": name,
                "version": 1,
                "target": "staging",
                "justification": "better recall",
                "status": "applied",
                "requester": people.admin.pk,
                "approvals": [{"approver": "bob", "decision": "approve"}],
                "approved_by": ["bob"],
                "created_at": "2000-01-01T00:00:00Z",
                "model_version": 99,
                "kind": "emergency_rollback",
                "policy": 999,
            },
        )
    assert response.status_code == 201, response.json()
    body = response.json()
    stored = PromotionRequest.objects.get(pk=body["id"])
    assert stored.status == RequestStatus.PENDING
    assert stored.requester == people.alice
    assert stored.kind == "promotion"
    assert stored.model_version.version == 1
    assert stored.created_at.year > 2000
    assert stored.policy.target == "staging"
    assert not Approval.objects.filter(request=stored).exists()


def test_bad_input_is_4xx_json_naming_the_field(client, people, model_factory):
    name = model_factory(versions=1)
    client.force_login(people.alice)
    cases = [
        (
            {"model": name, "version": 1, "target": "prod", "justification": "x"},
            "target",
        ),
        (
            {
                "model": name,
                "version": "one",
                "target": "staging",
                "justification": "x",
            },
            "version",
        ),
        ({"model": name, "version": 1, "target": "staging"}, "justification"),
        (
            {"model": name, "version": 42, "target": "staging", "justification": "x"},
            "version",
        ),
        (
            {"model": "nope", "version": 1, "target": "staging", "justification": "x"},
            "version",
        ),
    ]
    for data, field in cases:
        response = _post(client, "governance:api-requests", data)
        assert 400 <= response.status_code < 500, (data, response.status_code)
        error = response.json()["error"]
        assert field in error.get("fields", {}), (data, error)
    broken = client.post(
        reverse("governance:api-requests"), "{not json", content_type="application/json"
    )
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == "malformed_request"


def test_duplicate_and_already_there_are_conflicts(
    client, people, model_factory, in_staging, commits
):
    name = model_factory(versions=2)
    in_staging(name, 1)
    client.force_login(people.alice)
    data = {"model": name, "version": 1, "target": "staging", "justification": "x"}
    assert _post(client, "governance:api-requests", data).json()["error"]["code"] == (
        "already_there"
    )
    data["version"] = 2
    with commits():
        assert _post(client, "governance:api-requests", data).status_code == 201
    again = _post(client, "governance:api-requests", data)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "duplicate_request"


def test_session_writes_need_the_csrf_token(people, model_factory, open_request):
    name = model_factory(versions=1)
    request = open_request(name, 1, "staging")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(people.bob)
    url = reverse("governance:api-request-approve", args=[request.pk])
    refused = browser.post(url, {}, content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]["message"]
    rejected = browser.post(
        reverse("governance:api-request-reject", args=[request.pk]),
        {"comment": "no"},
        content_type="application/json",
    )
    assert rejected.status_code == 403
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING
    assert not Approval.objects.exists()
    # with the token from a page the approval goes through
    browser.get(reverse("governance:registry"))
    token = browser.cookies["csrftoken"].value
    accepted = browser.post(
        url, {}, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert accepted.status_code == 200


def test_admin_form_post_without_csrf_token_is_refused(
    people, model_factory, open_request
):
    name = model_factory(versions=1)
    request = open_request(name, 1, "staging")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(people.bob)
    url = reverse("admin:governance_promotionrequest_change", args=[request.pk])
    response = browser.post(url, {"decision": "approve"})
    assert response.status_code == 403
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING


def test_token_clients_need_no_csrf(people, model_factory, open_request):
    name = model_factory(versions=1)
    request = open_request(name, 1, "staging")
    token = Token.objects.create(user=people.bob)
    api = Client(enforce_csrf_checks=True)
    response = api.post(
        reverse("governance:api-request-approve", args=[request.pk]),
        {"comment": "via token"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token.key}",
    )
    assert response.status_code == 200, response.json()


def test_list_filters_and_awaiting_me(client, people, model_factory, open_request):
    name = model_factory(versions=2)
    staging = open_request(name, 1, "staging")
    open_request(name, 2, "staging", user=people.amos)
    client.force_login(people.bob)
    listing = client.get(reverse("governance:api-requests"), {"model": name})
    assert listing.json()["count"] == 2
    mine = client.get(reverse("governance:api-requests"), {"awaiting_me": "true"})
    assert {r["id"] for r in mine.json()["results"]} >= {staging.pk}
    client.force_login(people.carol)  # production approver: nothing for them
    none = client.get(reverse("governance:api-requests"), {"awaiting_me": "true"})
    assert none.json()["count"] == 0
    bad = client.get(reverse("governance:api-requests"), {"status": "bogus"})
    assert bad.status_code == 200 and bad.json()["count"] == 0
    detail = client.get(reverse("governance:api-request-detail", args=[staging.pk]))
    assert detail.json()["evidence"]["checks"]
    missing = client.get(reverse("governance:api-request-detail", args=[999999]))
    assert missing.status_code == 404


def test_alias_history_answers_who_held_it_when(
    client, people, model_factory, in_production
):
    name = model_factory(versions=2)
    first = in_production(name, 1)
    in_production(name, 2)
    client.force_login(people.victor)
    url = reverse("governance:api-alias-history", args=[name, "production"])
    body = client.get(url).json()
    assert [s["version"] for s in body["timeline"]] == [1, 2]
    at = body["timeline"][0]["start"]
    held = client.get(url, {"at": at}).json()["held"]
    assert held["version"] == 1
    assert held["approved_by"] == ["carol", "dave"]
    assert held["policy"]["target"] == "production"
    assert held["request_id"] == first.pk
    before = client.get(url, {"at": "2000-01-01T00:00:00Z"}).json()
    assert before["held"] is None
    assert client.get(url, {"at": "tuesday"}).status_code == 400


def test_models_and_policies_are_listed(client, people, model_factory):
    name = model_factory(versions=1)
    client.force_login(people.victor)
    models = client.get(reverse("governance:api-models"), {"page_size": 500}).json()
    assert name in [m["name"] for m in models["results"]]
    policies = client.get(reverse("governance:api-policies")).json()
    targets = {p["target"]: p for p in policies["results"] if p["is_active"]}
    assert targets["production"]["approvals_required"] == 2
    assert targets["staging"]["requester_may_approve"] is False


@pytest.mark.django_db
def test_every_governance_endpoint_is_in_the_openapi_schema(client, people):
    client.force_login(people.admin)
    schema = client.get(reverse("api-schema"), {"format": "json"}).json()
    paths = set(schema["paths"])
    for expected in (
        "/api/governance/requests/",
        "/api/governance/requests/{id}/approve/",
        "/api/governance/requests/{id}/reject/",
        "/api/governance/requests/{id}/cancel/",
        "/api/governance/requests/{id}/confirm/",
        "/api/governance/models/{name}/rollback/",
        "/api/governance/models/{name}/emergency-rollback/",
        "/api/governance/models/{name}/aliases/{alias}/history/",
        "/api/governance/audit-events/",
        "/api/governance/webhooks/mlflow/",
    ):
        assert expected in paths, expected
    audit = schema["paths"]["/api/governance/audit-events/"]
    assert set(audit) == {"get"}  # no write


def test_decision_bodies_cannot_name_another_approver(
    client, people, model_factory, open_request
):
    name = model_factory(versions=1)
    request = open_request(name, 1, "staging")
    client.force_login(people.bob)
    response = client.post(
        reverse("governance:api-request-approve", args=[request.pk]),
        {
            "comment": "ok",
            "approver": "bea",
            "approved_by": ["bea", "carol"],
            "status": "applied",
            "is_stale": True,
        },
        content_type="application/json",
    )
    assert response.status_code == 200
    approval = Approval.objects.get(request=request)
    assert approval.approver == people.bob
    assert approval.is_stale is False


def test_session_key_rotates_on_login_and_logout_ends_it(
    people, model_factory, open_request
):
    name = model_factory(versions=1)
    request = open_request(name, 1, "staging")
    browser = Client(enforce_csrf_checks=True)
    login_url = reverse("login")
    session = browser.session  # an anonymous session exists before login
    session["seen"] = True
    session.save()
    before = browser.cookies["sessionid"].value
    browser.get(login_url)
    token = browser.cookies["csrftoken"].value
    response = browser.post(
        login_url,
        {"username": "bob", "password": "pw", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    after = browser.cookies["sessionid"].value
    assert after and after != before
    token = browser.cookies["csrftoken"].value

    browser.post(reverse("logout"), {"csrfmiddlewaretoken": token})
    # the old session cookie no longer authenticates
    stale = Client(enforce_csrf_checks=True)
    stale.cookies["sessionid"] = after
    listing = stale.get(reverse("governance:api-requests"))
    assert listing.status_code in (401, 403)
    approve = stale.post(
        reverse("governance:api-request-approve", args=[request.pk]),
        {},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert approve.status_code in (401, 403)
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING
