"""The demo reaches production in minutes with the seeded logins and policies,
and the request page says when the time in staging will be enough."""

import io
import re
from datetime import timedelta
from unittest import mock

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from governance.choices import AuditKind, PolicyTarget, RequestStatus
from governance.models import AuditEvent, PromotionPolicy
from governance.selectors import policy_active
from governance.services.approvals import promotion_approve
from governance.services.checks import promotion_checks_refresh_open
from governance.services.requests import promotion_request_create


def _users():
    call_command("seed_demo", stdout=io.StringIO())
    return {u.username: u for u in get_user_model().objects.all()}


def test_seed_demo_policy_is_a_demo_value_written_once(db):
    strict = policy_active(target=PolicyTarget.PRODUCTION)
    call_command("seed_demo_policy", stdout=io.StringIO())
    demo = policy_active(target=PolicyTarget.PRODUCTION)
    assert demo.min_staging_minutes == 2
    assert demo.note.startswith("Demo value")
    assert demo.approvals_required == strict.approvals_required
    assert AuditEvent.objects.filter(kind=AuditKind.POLICY_CHANGED).count() == 1
    # an admin's later edit stands: the seed does not write it again
    PromotionPolicy.objects.filter(pk=demo.pk).update(is_active=False)
    PromotionPolicy.objects.filter(pk=strict.pk).update(is_active=True)
    call_command("seed_demo_policy", stdout=io.StringIO())
    assert policy_active(target=PolicyTarget.PRODUCTION).pk == strict.pk


def test_walkthrough_reaches_production_with_the_demo_logins(
    client, model_factory, commits, mlflow_aliases
):
    # given the demo setup: logins and the demo production policy
    users = _users()
    call_command("seed_demo_policy", stdout=io.StringIO())
    name = model_factory(versions=1)

    def request(target):
        with commits():
            made = promotion_request_create(
                user=users["alice"],
                model_name=name,
                version=1,
                target=target,
                justification="walkthrough",
            )
        made.refresh_from_db()
        return made

    staging = request("staging")
    with commits():
        promotion_approve(request_id=staging.pk, user=users["bob"])
    staging.refresh_from_db()
    assert staging.status == RequestStatus.APPLIED

    # when alice asks for production right away, the page says when it passes
    production = request("production")
    check = next(
        c for c in production.evidence["checks"] if c["name"] == "staging_time"
    )
    moved = AuditEvent.objects.get(
        kind=AuditKind.ALIAS_MOVED, model_name=name, alias="staging"
    )
    passes_at = moved.created_at + timedelta(minutes=2)
    assert check["outcome"] == "failed"
    assert f"passes at {passes_at:%Y-%m-%d %H:%M} UTC" in check["detail"]
    client.force_login(users["carol"])
    page = client.get(
        reverse("admin:governance_promotionrequest_change", args=[production.pk])
    ).content.decode()
    # a <time> element the page's script shows in the reader's time zone
    assert re.search(
        rf'passes at <strong><time class="local" datetime="[^"]+">'
        rf"{passes_at:%H:%M} UTC</time></strong>",
        page,
    ), page
    assert 'id="approve-button"' not in page

    # then, two minutes later, the checks pass and carol and dave approve
    later = passes_at + timedelta(seconds=2)
    with mock.patch("django.utils.timezone.now", return_value=later), commits():
        promotion_checks_refresh_open()
        for approver in ("carol", "dave"):
            promotion_approve(request_id=production.pk, user=users[approver])
    production.refresh_from_db()
    assert production.status == RequestStatus.APPLIED, production.apply_error
    assert mlflow_aliases(name)["production"] == 1
