"""Evidence that does not move with the clock: the periodic re-run of the checks
(housekeeping, every few minutes) changes the evidence only when a reviewer's
judgement would change, so approvals do not go stale by themselves."""

from contextlib import contextmanager
from datetime import timedelta
from unittest import mock

from django.core import mail
from django.utils import timezone

from governance.choices import AuditKind, RequestStatus
from governance.hashing import evidence_digest
from governance.models import AuditEvent
from governance.services.approvals import promotion_approve
from governance.services.checks import (
    evidence_compute,
    promotion_checks_refresh_open,
)


@contextmanager
def clock(at):
    with mock.patch("django.utils.timezone.now", return_value=at):
        yield


def test_evidence_an_hour_apart_has_one_digest(
    settings, model_factory, in_staging, open_request
):
    name = model_factory(versions=1)
    in_staging(name, 1)
    request = open_request(name, 1, "production")
    start = timezone.now()
    for minimum in (0, 1440):  # passed, and failing with a time to pass
        settings.GOVERNANCE = {**settings.GOVERNANCE, "MIN_STAGING_MINUTES": minimum}
        digests = set()
        for minutes in (0, 7, 60):
            with clock(start + timedelta(minutes=minutes)):
                evidence, _status = evidence_compute(request=request)
            digests.add(evidence_digest(evidence))
        assert len(digests) == 1, f"minimum {minimum}: the digest moved with time"


def test_two_approvals_twenty_minutes_apart_across_refresh_runs_apply(
    people, model_factory, in_staging, open_request, commits, mlflow_aliases
):
    # given a production request (two approvals) whose checks passed
    name = model_factory(versions=1)
    in_staging(name, 1)
    request = open_request(name, 1, "production")
    start = timezone.now()
    mail.outbox.clear()
    # when carol approves, housekeeping re-runs the checks every 5 minutes,
    # and dave approves 20 minutes after carol
    with clock(start + timedelta(minutes=1)), commits():
        promotion_approve(request_id=request.pk, user=people.carol)
    for minutes in (5, 10, 15, 20):
        with clock(start + timedelta(minutes=minutes)), commits():
            assert promotion_checks_refresh_open() == 0
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING
    assert request.approvals.get(approver=people.carol).is_stale is False
    with clock(start + timedelta(minutes=21)), commits():
        promotion_approve(request_id=request.pk, user=people.dave)
    # then the request is applied and nobody was asked to review it again
    request.refresh_from_db()
    assert request.status == RequestStatus.APPLIED, request.apply_error
    assert mlflow_aliases(name)["production"] == 1
    assert not AuditEvent.objects.filter(
        kind=AuditKind.EVIDENCE_CHANGED, request_ref=request.pk
    ).exists()
    assert not [m for m in mail.outbox if m.subject.startswith("[Modelgate] Review")]


def test_the_time_a_staging_check_passes_is_in_the_evidence(
    settings, model_factory, in_staging, open_request, commits
):
    settings.GOVERNANCE = {**settings.GOVERNANCE, "MIN_STAGING_MINUTES": 30}
    name = model_factory(versions=1)
    in_staging(name, 1)
    request = open_request(name, 1, "production")
    check = next(c for c in request.evidence["checks"] if c["name"] == "staging_time")
    # the instant comes from the alias timeline the apply wrote
    moved = AuditEvent.objects.get(
        kind=AuditKind.ALIAS_MOVED, model_name=name, alias="staging"
    )
    passes_at = moved.created_at + timedelta(minutes=30)
    assert check["outcome"] == "failed"
    assert f"passes at {passes_at:%Y-%m-%d %H:%M} UTC" in check["detail"]
    assert check["data"]["since"] == moved.created_at.isoformat(timespec="microseconds")
    # once it passed, the re-run changes the evidence once (the verdict moved)
    with clock(passes_at + timedelta(seconds=1)), commits():
        assert promotion_checks_refresh_open() == 1
    with clock(passes_at + timedelta(minutes=10)), commits():
        assert promotion_checks_refresh_open() == 0
    request.refresh_from_db()
    assert request.checks_status == "passed"
