"""Governance with the real monitoring app: an alert monitoring opens on the
candidate fails the production check "no open drift alert" (through the
OPEN_ALERTS_PROVIDER setting), makes approvals stale, and clears when the alert
is resolved (monitoring calls promotion_checks_schedule on both)."""

import pytest
from django.utils import timezone

from core.exceptions import ConflictError
from governance.choices import ChecksStatus, RequestStatus
from governance.models import Approval
from governance.services.approvals import promotion_approve

monitoring_alerts = pytest.importorskip("monitoring.services.alerts")


def _drift_check(request):
    return next(c for c in request.evidence["checks"] if c["name"] == "no_drift_alert")


def test_monitoring_alert_blocks_production_until_resolved(
    settings, people, model_factory, in_staging, open_request, commits, mlflow_aliases
):
    from monitoring.calculations.rules import Outcome
    from tests.monitoring.factories import add_rule, make_monitor

    assert settings.MODELGATE["OPEN_ALERTS_PROVIDER"] == (
        "monitoring.selectors.open_alerts_for_model"
    )
    name = model_factory(versions=1)
    in_staging(name, 1)
    request = open_request(name, 1, "production")
    assert _drift_check(request)["outcome"] == "passed"
    with commits():
        promotion_approve(request_id=request.pk, user=people.carol)

    rule = add_rule(make_monitor(name), "drift_share_above", threshold=0.3)
    with commits():
        alert, opened = monitoring_alerts.alert_fire(
            rule=rule,
            outcome=Outcome(True, 0.42, "drift share 42% above 30%"),
            version=1,
            report=None,
            now=timezone.now(),
        )
    assert opened
    request.refresh_from_db()
    check = _drift_check(request)
    assert check["outcome"] == "failed"
    assert check["data"]["open_alerts"][0]["id"] == alert.pk
    assert request.checks_status == ChecksStatus.FAILED
    assert Approval.objects.get(request=request, approver=people.carol).is_stale
    with pytest.raises(ConflictError):
        promotion_approve(request_id=request.pk, user=people.dave)

    with commits():
        monitoring_alerts.alert_resolve(rule=rule, now=timezone.now())
    request.refresh_from_db()
    assert _drift_check(request)["outcome"] == "passed"
    for approver in (people.dave, people.carol):
        with commits():
            promotion_approve(request_id=request.pk, user=approver)
    request.refresh_from_db()
    assert request.status == RequestStatus.APPLIED
    assert mlflow_aliases(name)["production"] == 1
