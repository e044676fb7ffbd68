"""seed_promotions: the demo models reach production through the real flow."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from governance.choices import AuditKind, RequestStatus
from governance.models import AuditEvent, PromotionPolicy, PromotionRequest
from governance.services.audit import audit_verify


@pytest.fixture
def demo_users(db):
    call_command("seed_demo", stdout=io.StringIO())


def test_seed_promotions_promotes_v1_through_the_workflow_once(
    demo_users, model_factory, mlflow_aliases, settings
):
    settings.GOVERNANCE = {**settings.GOVERNANCE, "MIN_STAGING_MINUTES": 1440}
    name = model_factory(versions=1)
    out = io.StringIO()
    call_command("seed_promotions", name, stdout=out)
    assert mlflow_aliases(name) == {"staging": 1, "production": 1}

    requests = PromotionRequest.objects.filter(registered_model__name=name)
    assert {(r.target, r.status) for r in requests} == {
        ("staging", RequestStatus.APPLIED),
        ("production", RequestStatus.APPLIED),
    }
    production = requests.get(target="production")
    assert production.requester.username == "alice"
    approvers = set(production.approvals.values_list("approver__username", flat=True))
    assert approvers == {"carol", "dave"}
    assert requests.get(target="staging").approvals.get().approver.username == "bob"
    # production was judged by the recorded demo policy, not the active one
    assert not production.policy.is_active
    assert production.policy.min_staging_minutes == 0
    assert "Demo seed" in production.policy.note
    assert PromotionPolicy.objects.get(target="production", is_active=True).version == 1
    moved = AuditEvent.objects.get(
        kind=AuditKind.ALIAS_MOVED, model_name=name, alias="production"
    )
    assert "Demo seed" in moved.payload["policy"]["note"]

    # a second run does nothing
    again = io.StringIO()
    call_command("seed_promotions", name, stdout=again)
    assert "already in production" in again.getvalue()
    assert PromotionRequest.objects.filter(registered_model__name=name).count() == 2
    assert audit_verify().ok


def test_seed_promotions_needs_the_demo_users(db):
    with pytest.raises(CommandError, match="seed_demo"):
        call_command("seed_promotions", "sms-spam", stdout=io.StringIO())


def test_seed_promotions_skips_unknown_models(demo_users):
    out = io.StringIO()
    call_command("seed_promotions", "no-such-model", stdout=out)
    assert "skipped" in out.getvalue()
