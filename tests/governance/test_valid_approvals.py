"""Approvals count only while they are valid: an approver still in the policy's
group, a superuser only where the policy lets them, never after the request's
expiry; a request whose checks failed offers no Approve button."""

from datetime import timedelta
from unittest import mock

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from core.exceptions import ConflictError
from core.roles import Role
from governance.choices import AuditKind, RequestStatus
from governance.models import AuditEvent
from governance.permissions import GovernanceDenied
from governance.selectors import fresh_approvers, promotion_request_get
from governance.services.approvals import promotion_approve
from governance.services.policies import policy_update


def test_an_approver_removed_from_the_group_no_longer_counts(
    people, model_factory, in_staging, open_request, commits
):
    name = model_factory(versions=1)
    in_staging(name, 1)
    request = open_request(name, 1, "production")
    with commits():
        promotion_approve(request_id=request.pk, user=people.carol)
    # carol leaves the production approvers before dave approves
    people.carol.groups.remove(Group.objects.get(name=Role.PRODUCTION_APPROVER))
    with commits():
        promotion_approve(request_id=request.pk, user=people.dave)
    request = promotion_request_get(request_id=request.pk)
    assert request.status == RequestStatus.PENDING  # one valid approval of two
    assert fresh_approvers(request=request) == ["dave"]


def test_a_superuser_approves_only_where_the_policy_says(
    people, model_factory, open_request, commits
):
    name = model_factory(versions=2)
    request = open_request(name, 1, "staging")
    with pytest.raises(GovernanceDenied, match="staging_approvers"):
        promotion_approve(request_id=request.pk, user=people.admin)
    assert promotion_request_get(request_id=request.pk).status == "pending"
    # a policy switch lets superusers approve its requests
    policy_update(
        user=people.admin, target="staging", changes={"superuser_may_approve": True}
    )
    allowed = open_request(name, 2, "staging")
    with commits():
        promotion_approve(request_id=allowed.pk, user=people.admin)
    assert promotion_request_get(request_id=allowed.pk).status == "applied"


def test_a_superuser_in_the_group_approves(
    people, model_factory, open_request, commits
):
    name = model_factory(versions=1)
    people.admin.groups.add(Group.objects.get_or_create(name=Role.STAGING_APPROVER)[0])
    request = open_request(name, 1, "staging")
    with commits():
        promotion_approve(request_id=request.pk, user=people.admin)
    assert promotion_request_get(request_id=request.pk).status == "applied"


def test_an_approval_after_expiry_is_refused_at_that_moment(
    people, model_factory, open_request, commits
):
    name = model_factory(versions=1)
    request = open_request(name, 1, "staging")
    late = request.expires_at + timedelta(seconds=1)
    with (
        mock.patch("django.utils.timezone.now", return_value=late),
        commits(),
        pytest.raises(ConflictError, match="expired") as caught,
    ):
        promotion_approve(request_id=request.pk, user=people.bob)
    assert caught.value.code == "expired"
    request.refresh_from_db()
    assert request.status == RequestStatus.EXPIRED  # now, not at the next tick
    assert not request.approvals.exists()
    assert AuditEvent.objects.filter(
        kind=AuditKind.REQUEST_EXPIRED, request_ref=request.pk
    ).exists()


def test_failed_checks_show_no_approve_button_and_leave_my_queue(
    client, people, model_factory, open_request
):
    name = model_factory(versions=1, tags={1: {"modelgate.tests": "failed"}})
    request = open_request(name, 1, "staging")
    assert request.checks_status == "failed"
    client.force_login(people.bob)
    page = client.get(
        reverse("admin:governance_promotionrequest_change", args=[request.pk])
    ).content.decode()
    assert 'id="approve-button"' not in page
    assert 'id="approve-blocked"' in page
    queue = client.get(
        reverse("admin:governance_promotionrequest_changelist") + "?queue=mine"
    ).content.decode()
    assert f"/{request.pk}/change/" not in queue
    api = client.get(reverse("governance:api-requests") + "?awaiting_me=true").json()
    assert request.pk not in [r["id"] for r in api["results"]]
