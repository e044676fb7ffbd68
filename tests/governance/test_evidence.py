"""Automated checks as evidence: failed checks block approval, approvals go
stale when the evidence changes, drift alerts come from monitoring's provider."""

import pytest
from django.core import mail
from django.urls import reverse

from core.exceptions import ConflictError
from governance.choices import AuditKind, ChecksStatus, RequestStatus
from governance.models import Approval, AuditEvent
from governance.services import promotion_checks_schedule
from governance.services.approvals import promotion_approve
from tests.governance import alerts_provider

PROVIDER = "tests.governance.alerts_provider.open_alerts_for_model"


@pytest.fixture
def alerts(settings):
    settings.MODELGATE = {**settings.MODELGATE, "OPEN_ALERTS_PROVIDER": PROVIDER}
    alerts_provider.OPEN.clear()
    yield alerts_provider.OPEN
    alerts_provider.OPEN.clear()


def _check(request, name):
    return next(c for c in request.evidence["checks"] if c["name"] == name)


def test_failed_model_tests_block_approval(people, model_factory, open_request):
    name = model_factory(versions=1, tags={1: {"modelgate.tests": "failed"}})
    request = open_request(name, 1, "staging")
    assert request.checks_status == ChecksStatus.FAILED
    assert _check(request, "tests_passed")["outcome"] == "failed"
    # the requester heard why
    assert any("required checks failed" in m.subject for m in mail.outbox)
    with pytest.raises(ConflictError, match="checks have not passed"):
        promotion_approve(request_id=request.pk, user=people.bob)


def test_drift_alert_makes_approvals_stale_and_blocks_until_it_closes(
    people, model_factory, in_staging, open_request, commits, alerts, mlflow_aliases
):
    name = model_factory(versions=1)
    in_staging(name, 1)
    request = open_request(name, 1, "production")
    assert _check(request, "no_drift_alert")["outcome"] == "passed"
    first_digest = request.evidence_digest
    with commits():
        promotion_approve(request_id=request.pk, user=people.carol)

    # monitoring opens a drift alert on the candidate and asks for a re-check
    alerts[(name, 1)] = [
        {
            "id": 7,
            "severity": "critical",
            "rule": "drift_share_above",
            "title": "drift 60%",
        }
    ]
    with commits():
        assert promotion_checks_schedule(model_name=name) == 1
    request.refresh_from_db()
    assert request.checks_status == ChecksStatus.FAILED
    assert request.evidence_digest != first_digest
    carol = Approval.objects.get(request=request, approver=people.carol)
    assert carol.is_stale
    assert carol.evidence_digest == first_digest  # what she saw
    changed = AuditEvent.objects.get(kind=AuditKind.EVIDENCE_CHANGED)
    assert changed.payload["stale_approvals"] == ["carol"]
    with pytest.raises(ConflictError):
        promotion_approve(request_id=request.pk, user=people.dave)

    # the alert closes: checks pass again, but carol must look again
    alerts.clear()
    with commits():
        promotion_checks_schedule(model_name=name)
    request.refresh_from_db()
    assert request.checks_status == ChecksStatus.PASSED
    with commits():
        promotion_approve(request_id=request.pk, user=people.dave)
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING  # carol's approval is stale
    with commits():
        promotion_approve(request_id=request.pk, user=people.carol)
    request.refresh_from_db()
    assert request.status == RequestStatus.APPLIED
    assert mlflow_aliases(name)["production"] == 1


def test_an_approval_with_an_outdated_digest_is_refused(
    people, model_factory, open_request
):
    name = model_factory(versions=1)
    request = open_request(name, 1, "staging")
    with pytest.raises(ConflictError, match="evidence changed") as caught:
        promotion_approve(
            request_id=request.pk, user=people.bob, evidence_digest="0" * 64
        )
    assert caught.value.extra["evidence_digest"] == request.evidence_digest


def test_monitoring_not_installed_is_recorded_not_fatal(
    settings, model_factory, in_staging, open_request
):
    settings.MODELGATE = {
        **settings.MODELGATE,
        "OPEN_ALERTS_PROVIDER": "monitoring.selectors_absent.open_alerts_for_model",
    }
    name = model_factory(versions=1)
    in_staging(name, 1)
    request = open_request(name, 1, "production")
    check = _check(request, "no_drift_alert")
    assert check["outcome"] == "skipped"
    assert "monitoring not installed" in check["detail"]
    assert request.checks_status == ChecksStatus.PASSED


def test_a_failing_alert_provider_fails_the_check(
    settings, model_factory, in_staging, open_request
):
    settings.MODELGATE = {
        **settings.MODELGATE,
        "OPEN_ALERTS_PROVIDER": "tests.governance.alerts_provider.broken_provider",
    }
    name = model_factory(versions=1)
    in_staging(name, 1)
    request = open_request(name, 1, "production")
    assert _check(request, "no_drift_alert")["outcome"] == "failed"
    assert (
        "monitoring database unavailable" in _check(request, "no_drift_alert")["detail"]
    )


def test_minimum_time_in_staging_comes_from_the_ledger(
    settings, model_factory, in_staging, open_request, commits
):
    from datetime import timedelta

    from django.utils import timezone

    from governance.services.checks import promotion_checks_refresh

    settings.GOVERNANCE = {**settings.GOVERNANCE, "MIN_STAGING_MINUTES": 60}
    name = model_factory(versions=1)
    in_staging(name, 1)
    request = open_request(name, 1, "production")
    check = _check(request, "staging_time")
    assert check["outcome"] == "failed"
    assert check["data"]["minimum_minutes"] == 60
    assert request.checks_status == ChecksStatus.FAILED

    # an hour later (the ledger is append-only: move the clock, not the rows)
    later = timezone.now() + timedelta(minutes=61)
    from unittest import mock

    with mock.patch("django.utils.timezone.now", return_value=later), commits():
        promotion_checks_refresh(request_id=request.pk)
    request.refresh_from_db()
    assert _check(request, "staging_time")["outcome"] == "passed"
    assert request.checks_status == ChecksStatus.PASSED


def test_a_version_trained_on_other_data_is_compared_with_the_champion(
    model_factory, in_production, open_request
):
    # v2 says it was trained on other data: it is still compared, both versions
    # scored on v2's held-out split
    name = model_factory(versions=2, tags={2: {"modelgate.data_sha256": "f" * 64}})
    in_production(name, 1)
    request = open_request(name, 2, "staging")
    metrics = _check(request, "metrics")
    assert request.evidence["champion"]["version"] == 1
    comparison = metrics["data"]["comparison"]
    assert comparison["error"] == ""
    assert comparison["evaluation_set"]["source"] == "held-out split of v2"
    assert metrics["data"]["gates"][0]["compared"] == "on held-out split of v2"


def test_same_run_versions_are_compared_and_equal(
    model_factory, in_production, open_request
):
    name = model_factory(versions=2)
    in_production(name, 1)
    request = open_request(name, 2, "staging")
    metrics = _check(request, "metrics")
    assert metrics["outcome"] == "passed"
    assert metrics["data"]["gates"][0]["delta"] == 0.0
    assert _check(request, "signature")["outcome"] == "passed"


def test_info_and_traffic_alerts_do_not_block_a_candidate(
    model_factory, in_staging, open_request, alerts
):
    name = model_factory(versions=1)
    in_staging(name, 1)
    alerts[(name, 1)] = [
        {"id": 1, "severity": "info", "rule": "no_traffic", "title": "no traffic"},
        {"id": 2, "severity": "warning", "rule": "error_rate_above", "title": "5xx"},
    ]
    request = open_request(name, 1, "production")
    check = _check(request, "no_drift_alert")
    assert check["outcome"] == "passed"
    assert check["data"]["open_alerts"] == []
    assert request.checks_status == ChecksStatus.PASSED


def test_a_drift_alert_on_the_champion_blocks_and_is_linked(
    client, people, model_factory, in_production, in_staging, open_request, alerts
):
    name = model_factory(versions=2)
    in_production(name, 1)
    in_staging(name, 2)
    alerts[(name, 1)] = [
        {
            "id": 9,
            "severity": "warning",
            "rule": "feature_drifted",
            "title": "message drifted",
            "url": f"/monitoring/models/{name}/#alert-9",
        }
    ]
    request = open_request(name, 2, "production")
    check = _check(request, "no_drift_alert")
    assert check["outcome"] == "failed"
    assert check["data"]["open_alerts"][0]["on"] == "champion"
    assert request.checks_status == ChecksStatus.FAILED
    client.force_login(people.carol)
    page = client.get(
        reverse("admin:governance_promotionrequest_change", args=[request.pk])
    ).content.decode()
    assert f'href="/monitoring/models/{name}/#alert-9"' in page
