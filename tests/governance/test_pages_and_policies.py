"""Registry pages, the admin review page and model page, policy versioning,
notifications and the optional mirror of MLflow's deprecated stages."""

import pytest
from django.core import mail
from django.urls import reverse

from core.registry import mlflow_store
from governance.choices import AuditKind, RequestStatus
from governance.models import AuditEvent, PromotionPolicy
from governance.services.approvals import promotion_approve
from governance.services.policies import policy_update


def test_registry_page_lists_models_aliases_and_open_requests(
    client, people, model_factory, in_staging, open_request
):
    name = model_factory(versions=2)
    in_staging(name, 1)
    open_request(name, 2, "staging")
    client.force_login(people.client)  # any signed-in user may read it
    html = client.get(reverse("governance:registry")).content.decode()
    assert name in html
    assert "@staging → v1" in html


def test_registry_pages_need_a_login(client, db):
    response = client.get(reverse("governance:registry"))
    assert response.status_code == 302 and "login" in response.url


def test_model_page_shows_versions_and_the_alias_timeline(
    client, people, model_factory, in_production
):
    name = model_factory(versions=2)
    in_production(name, 1)
    in_production(name, 2)
    client.force_login(people.victor)
    response = client.get(reverse("governance:model-detail", args=[name]))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-alias="production">@production → v2' in html
    assert 'data-alias="previous">@previous → v1' in html
    timeline = html[
        html.index('data-alias="production"', html.index("Alias timeline")) :
    ]
    assert "carol, dave" in timeline
    assert (
        client.get(reverse("governance:model-detail", args=["nope"])).status_code == 404
    )


def test_review_page_shows_evidence_beside_the_champion(
    client, people, model_factory, in_production, open_request
):
    name = model_factory(versions=2)
    in_production(name, 1)
    request = open_request(name, 2, "staging")
    client.force_login(people.bob)
    queue = client.get(reverse("admin:governance_promotionrequest_changelist"))
    assert queue.status_code == 200
    assert (
        f"#{request.pk}" in queue.content.decode()
        or str(request.pk) in queue.content.decode()
    )
    page = client.get(
        reverse("admin:governance_promotionrequest_change", args=[request.pk])
    ).content.decode()
    assert "Candidate v2" in page and "Champion v1" in page
    # both scored on one evaluation set, named by its hash and size
    evaluation = next(c for c in request.evidence["checks"] if c["name"] == "metrics")[
        "data"
    ]["comparison"]["evaluation_set"]
    assert "Scored on one evaluation set: the held-out split of v2" in page
    assert f"{evaluation['rows']} rows" in page
    assert evaluation["sha256"][:12] in page
    assert 'data-metric="mcc"' in page
    assert 'data-check="metrics"' in page
    assert "Model cards" in page
    assert 'id="approve-button"' in page
    assert request.evidence_digest in page

    # approve through the form with a comment
    response = client.post(
        reverse("admin:governance_promotionrequest_change", args=[request.pk]),
        {
            "decision": "approve",
            "comment": "fine",
            "evidence_digest": request.evidence_digest,
        },
    )
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status in (RequestStatus.APPROVED, RequestStatus.APPLIED)
    assert request.approvals.get().comment == "fine"


def test_reject_through_the_admin_form_needs_a_comment(
    client, people, model_factory, open_request
):
    name = model_factory(versions=1)
    request = open_request(name, 1, "staging")
    client.force_login(people.bob)
    url = reverse("admin:governance_promotionrequest_change", args=[request.pk])
    assert client.post(url, {"decision": "reject", "comment": ""}).status_code == 400
    assert client.post(url, {"decision": "reject", "comment": "no"}).status_code == 302
    request.refresh_from_db()
    assert request.status == RequestStatus.REJECTED


def test_admin_add_form_creates_a_request_through_the_service(
    client, people, model_factory, commits
):
    name = model_factory(versions=1)
    from governance.models import ModelVersion

    mv = ModelVersion.objects.get(registered_model__name=name, version=1)
    client.force_login(people.alice)
    with commits():
        response = client.post(
            reverse("admin:governance_promotionrequest_add"),
            {
                "model_version": mv.pk,
                "target": "staging",
                "justification": "admin form",
            },
        )
    assert response.status_code == 302
    created = AuditEvent.objects.get(kind=AuditKind.REQUEST_CREATED, model_name=name)
    assert created.payload["via"] == "admin-form"
    # the same version again: a clear error on the form, not a crash
    again = client.post(
        reverse("admin:governance_promotionrequest_add"),
        {"model_version": mv.pk, "target": "staging", "justification": "again"},
    )
    assert again.status_code == 409
    assert "open request already" in again.content.decode()


def test_admin_model_page_starts_a_rollback(
    client, people, model_factory, in_production
):
    name = model_factory(versions=2)
    in_production(name, 1)
    first = in_production(name, 2)
    client.force_login(people.erin)
    url = reverse(
        "admin:governance_registeredmodel_change", args=[first.registered_model_id]
    )
    page = client.get(url).content.decode()
    assert "Alias timeline" in page and "Emergency rollback now" in page
    response = client.post(url, {"action": "rollback", "justification": "bad v2"})
    assert response.status_code == 302
    assert first.registered_model.promotion_requests.filter(kind="rollback").exists()


def test_policy_edit_writes_a_new_version_and_old_requests_keep_theirs(
    people, model_factory, open_request
):
    name = model_factory(versions=1)
    request = open_request(name, 1, "staging")
    old = request.policy
    new = policy_update(
        user=people.admin, target="staging", changes={"approvals_required": 2}
    )
    assert (new.version, new.is_active, new.approvals_required) == (
        old.version + 1,
        True,
        2,
    )
    old.refresh_from_db()
    assert not old.is_active
    request.refresh_from_db()
    assert request.policy_id == old.pk
    promotion_approve(request_id=request.pk, user=people.bob)
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED  # one approval under v1
    event = AuditEvent.objects.get(kind=AuditKind.POLICY_CHANGED)
    assert event.payload["from_version"] == old.version


def test_policy_changes_are_for_admins_only_and_validated(people, db):
    from core.exceptions import ApplicationError
    from governance.permissions import GovernanceDenied

    with pytest.raises(GovernanceDenied):
        policy_update(
            user=people.carol, target="production", changes={"approvals_required": 1}
        )
    with pytest.raises(ApplicationError):
        policy_update(
            user=people.admin,
            target="production",
            changes={"required_checks": ["vibes"]},
        )
    with pytest.raises(ApplicationError):
        policy_update(user=people.admin, target="production", changes={"status": "x"})
    assert PromotionPolicy.objects.filter(target="production").count() == 1


def test_policy_admin_form_saves_a_new_version(client, people, db):
    policy = PromotionPolicy.objects.get(target="staging", is_active=True)
    client.force_login(people.admin)
    url = reverse("admin:governance_promotionpolicy_change", args=[policy.pk])
    response = client.post(
        url,
        {
            "approver_group": policy.approver_group_id,
            "approvals_required": 2,
            "required_checks": '["tests_passed"]',
            "metric_gates": "[]",
            "expiry_hours": 24,
            "min_staging_minutes": "",
            "emergency_confirm_hours": "",
            "note": "stricter staging",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    active = PromotionPolicy.objects.get(target="staging", is_active=True)
    assert (active.version, active.approvals_required) == (policy.version + 1, 2)
    # the previous version is now read-only
    assert client.post(url, {"approvals_required": 5}).status_code == 403


def test_approvers_hear_of_a_request_once_its_checks_pass(
    people, model_factory, open_request
):
    name = model_factory(versions=1)
    mail.outbox.clear()
    open_request(name, 1, "staging")
    review = [
        m for m in mail.outbox if m.subject.startswith("[Modelgate] Review needed")
    ]
    assert len(review) == 1
    assert set(review[0].to) == {"bob@example.com", "bea@example.com"}
    assert "/admin/governance/promotionrequest/" in review[0].body


def test_stage_mirroring_is_off_unless_configured(
    settings, people, model_factory, in_staging
):
    name = model_factory(versions=2)
    in_staging(name, 1)
    assert mlflow_store.client().get_model_version(name, "1").current_stage == "None"
    settings.GOVERNANCE = {**settings.GOVERNANCE, "MIRROR_STAGES": True}
    in_staging(name, 2)
    assert mlflow_store.client().get_model_version(name, "2").current_stage == "Staging"
