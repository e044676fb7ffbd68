"""Retraining policies, triggers and runs (in process; the worker test is
test_retraining_worker.py). Each test retrains its own registered model
name, so the session's demo models are not disturbed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.utils import timezone

from core.ids import uuid7
from core.roles import Role
from governance.choices import AuditKind
from governance.models import AuditEvent, PromotionRequest
from governance.selectors import model_aliases
from inference.models import Feedback, PredictionLog
from trainer import retraining as services
from trainer.choices import ALERT_KINDS, RetrainingAction, RunStatus, Severity
from trainer.models import RetrainingPolicy, RetrainingRun

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

FAST = [
    "reference.cv_folds=2",
    "reference.sample_size=300",
    "outliers.n_estimators=20",
    "edge.export=false",
]
SPAM = "WINNER!! Claim your free prize now, call 09061701461 to collect cash"


def unique_name(prefix: str = "sms-retrain") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def log_labelled(model_name: str, rows: list[tuple[str, str]], hours_ago=1.0):
    at = datetime.now(UTC) - timedelta(hours=hours_ago)
    for i, (message, label) in enumerate(rows):
        created = at + timedelta(seconds=i)
        row = PredictionLog.objects.create(
            prediction_id=uuid7(at=created),
            model_name=model_name,
            model_version=1,
            inputs={"message": message},
            prediction="ham",
            latency_ms=1.0,
            created_at=created,
        )
        if label:
            Feedback.objects.create(prediction=row, label=label)


@pytest.fixture
def scientist(make_user):
    return make_user("dana", roles=[Role.REQUESTER])


def make_policy(model_name: str, requester=None, **fields) -> RetrainingPolicy:
    values = {
        "model_name": model_name,
        "overrides": FAST,
        "production_days": 7,
        "alert_kinds": ["drift_share_above"],
        "alert_min_severity": Severity.WARNING,
        "min_gap_minutes": 60,
        "action": RetrainingAction.REQUEST_STAGING,
        "requester": requester,
        "notify_emails": ["owner@example.com"],
    }
    values.update(fields)
    return RetrainingPolicy.objects.create(**values)


def alert(alert_id: int, model_name: str, **fields) -> dict:
    return {
        "alert_id": alert_id,
        "model_name": model_name,
        "kind": "drift_share_above",
        "severity": "warning",
        "title": f"{model_name}: drift share 0.6 above 0.3",
        "value": 0.6,
        **fields,
    }


# ------------------------------------------------------------------ pure
def test_alert_kinds_and_severities_are_monitorings():
    from monitoring.choices import RuleKind
    from monitoring.choices import Severity as MonitoringSeverity

    assert set(ALERT_KINDS) <= set(RuleKind.values)
    assert set(ALERT_KINDS) == {
        "drift_share_above",
        "feature_drifted",
        "metric_below",
        "outlier_rate_above",
    }
    assert list(Severity.values) == list(MonitoringSeverity.values)


def test_justification_names_trigger_data_and_metrics_against_champion():
    run = RetrainingRun(
        pk=7,
        model_name="m",
        trigger="alert",
        trigger_detail={"alert_id": 3, "severity": "warning", "title": "m: drift"},
        data={
            "rows_used": 120,
            "sha256": "abcdef0123456789",
            "sources": {
                "file": {"rows_used": 90, "share": 0.75},
                "production": {
                    "rows_used": 30,
                    "share": 0.25,
                    "start": "2026-12-01",
                    "end": "2026-12-05",
                    "labelled_predictions": 31,
                },
            },
        },
        metrics={"f1": 0.95, "mcc": 0.91, "rows_test": 24.0},
    )

    text = services.retraining_justification(
        run=run, champion={"version": 2, "metrics": {"f1": 0.9}}
    )

    assert "alert #3: m: drift" in text
    assert "production 30 rows (25.0%)" in text
    assert "sha256 abcdef012345" in text
    assert "- f1: 0.9500 vs 0.9000" in text
    assert "- mcc: 0.9100\n" in text
    assert "rows_test" not in text
    assert "champion v2" in text


# ---------------------------------------------------------------- policy
def test_policy_changes_are_audited(scientist, make_user):
    admin = make_user("root", is_staff=True, is_superuser=True)
    name = unique_name()
    policy = RetrainingPolicy(model_name=name, requester=scientist)

    services.retraining_policy_save(policy=policy, user=admin, via="admin-form")
    policy.min_gap_minutes = 15
    services.retraining_policy_save(policy=policy, user=admin, via="admin-form")

    events = list(
        AuditEvent.objects.filter(
            kind=AuditKind.RETRAINING_POLICY_CHANGED, model_name=name
        ).order_by("sequence")
    )
    assert [e.actor for e in events] == ["root", "root"]
    assert events[0].payload["before"] is None
    assert events[1].payload["before"]["min_gap_minutes"] == 360
    assert events[1].payload["after"]["min_gap_minutes"] == 15


def test_a_policy_with_an_unknown_alert_kind_is_refused(scientist):
    from django.core.exceptions import ValidationError

    policy = RetrainingPolicy(
        model_name=unique_name(), requester=scientist, alert_kinds=["no_traffic"]
    )
    with pytest.raises(ValidationError, match="unknown kind"):
        services.retraining_policy_save(policy=policy, user=scientist)
    assert not RetrainingPolicy.objects.filter(model_name=policy.model_name).exists()


# -------------------------------------------------------------- triggers
def test_an_alert_delivered_three_times_starts_one_run(
    scientist, django_capture_on_commit_callbacks
):
    name = unique_name()
    make_policy(name, scientist)

    with django_capture_on_commit_callbacks() as published:
        runs = [services.retraining_on_alert(**alert(11, name)) for _ in range(3)]

    assert len({r.pk for r in runs}) == 1
    assert RetrainingRun.objects.filter(model_name=name).count() == 1
    assert runs[0].trigger_key == "alert:11"
    assert runs[0].status == RunStatus.QUEUED
    assert len(published) == 1  # one training job enqueued


@pytest.mark.parametrize(
    "fields",
    [{"kind": "outlier_rate_above"}, {"severity": "info"}, {"model_name": "other"}],
)
def test_alerts_the_policy_does_not_ask_for_start_nothing(scientist, fields):
    name = unique_name()
    make_policy(name, scientist)

    run = services.retraining_on_alert(**{**alert(12, name), **fields})

    assert run is None
    assert not RetrainingRun.objects.filter(model_name=name).exists()


def test_a_second_alert_within_the_gap_is_skipped(scientist):
    name = unique_name()
    make_policy(name, scientist, alert_min_severity=Severity.INFO)

    first = services.retraining_on_alert(**alert(21, name))
    second = services.retraining_on_alert(**alert(22, name, severity="critical"))

    assert first.status == RunStatus.QUEUED
    assert second.status == RunStatus.SKIPPED
    assert "minimum gap" in second.error


def test_schedule_and_new_labels_start_runs_once(scientist):
    now = timezone.now()
    scheduled = make_policy(unique_name(), scientist, schedule_hours=24)
    labelled = make_policy(unique_name(), scientist, min_new_labels=3)
    log_labelled(labelled.model_name, [("a", "ham"), ("b", "spam")])

    first = services.retraining_due(now=now)
    log_labelled(labelled.model_name, [("c", "ham"), ("d", None)])
    second = services.retraining_due(now=now + timedelta(minutes=1))
    third = services.retraining_due(now=now + timedelta(minutes=2))

    assert [(r.policy_id, r.trigger) for r in first] == [(scheduled.pk, "schedule")]
    assert [(r.policy_id, r.trigger) for r in second] == [(labelled.pk, "labels")]
    assert second[0].trigger_detail["new_labels"] == 3
    assert third == []  # both within their gap


def test_manual_start_needs_a_policy_and_no_run_in_progress(scientist):
    from core.errors import ApplicationError, ConflictError

    name = unique_name()
    with pytest.raises(ApplicationError, match="no retraining policy"):
        services.retraining_start_manual(model_name=name, user=scientist)
    make_policy(name, scientist)

    run = services.retraining_start_manual(model_name=name, user=scientist)
    with pytest.raises(ConflictError, match="not finished"):
        services.retraining_start_manual(model_name=name, user=scientist)

    assert run.trigger == "manual" and run.requested_by == scientist


# ------------------------------------------------------------------- runs
@pytest.mark.slow
def test_a_failing_retrain_opens_no_request_and_tells_the_owners_once(
    scientist, django_capture_on_commit_callbacks
):
    # given a policy whose model tests cannot pass
    name = unique_name()
    policy = make_policy(
        name, scientist, overrides=[*FAST, "tests.thresholds.mcc.min=0.9999"]
    )
    log_labelled(name, [(SPAM, "spam"), ("see you at 7", "ham")])
    run = services.retraining_on_alert(**alert(31, name))

    # when the run executes (and is delivered a second time)
    with django_capture_on_commit_callbacks(execute=True):
        services.retraining_run_execute(run_id=run.pk)
        again = services.retraining_run_execute(run_id=run.pk)

    # then the version is registered as failed, no request, one notice
    run.refresh_from_db()
    assert again is None
    assert run.status == RunStatus.FAILED
    assert run.tests_passed is False and run.model_version == 1
    assert "mcc" in run.error
    assert run.promotion_request is None
    assert not PromotionRequest.objects.filter(registered_model__name=name).exists()
    assert model_aliases(name=name) == {}
    notices = [m for m in mail.outbox if name in m.subject]
    assert len(notices) == 1
    assert sorted(notices[0].to) == ["dana@example.com", "owner@example.com"]
    assert "mcc" in notices[0].body
    assert run.data["sources"]["production"]["rows_used"] == 2
    assert "[5/5] register" in run.log and run.progress.startswith("done in")
    assert policy.runs.count() == 1
    finished = AuditEvent.objects.get(
        kind=AuditKind.RETRAINING_FINISHED, model_name=name
    )
    assert finished.payload["status"] == "failed"


# --------------------------------------------------------------- recovery
def test_a_queued_run_no_worker_took_is_published_again(
    scientist, django_capture_on_commit_callbacks, monkeypatch
):
    published = []
    monkeypatch.setattr(
        "trainer.tasks.retraining_run_task.delay",
        lambda **kwargs: published.append(kwargs["run_id"]),
    )
    name = unique_name()
    make_policy(name, scientist)
    run = services.retraining_on_alert(**alert(41, name))
    now = timezone.now()

    with django_capture_on_commit_callbacks(execute=True):
        assert services.retraining_recover(now=now) == {"requeued": 0, "given_up": 0}
    later = now + timedelta(seconds=services.settings.TRAINER["REQUEUE_SECONDS"] + 1)
    with django_capture_on_commit_callbacks(execute=True):
        outcome = services.retraining_recover(now=later)
    assert outcome == {"requeued": 1, "given_up": 0}
    assert published == [run.pk]
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED and run.updated_at == later


def test_a_stalled_run_is_given_up_and_its_owners_told_once(
    scientist, django_capture_on_commit_callbacks
):
    name = unique_name()
    make_policy(name, scientist)
    run = services.retraining_on_alert(**alert(42, name))
    assert services.run_transition(run.pk, RunStatus.QUEUED, RunStatus.RUNNING)
    progress = services._progress_writer(run.pk)
    progress("[2/5] train")
    stall = services.settings.TRAINER["STALL_SECONDS"]

    # a run that wrote progress within the stall time is left alone
    soon = timezone.now() + timedelta(seconds=stall - 60)
    assert services.retraining_recover(now=soon)["given_up"] == 0
    later = timezone.now() + timedelta(seconds=stall + 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.retraining_recover(now=later)["given_up"] == 1
        assert services.retraining_recover(now=later)["given_up"] == 0

    run.refresh_from_db()
    assert run.status == RunStatus.ERROR
    assert "no progress for 60 minutes since '[2/5] train'" in run.error
    notices = [m for m in mail.outbox if name in m.subject]
    assert len(notices) == 1 and "worker running it stopped" in notices[0].body


def test_a_run_given_up_while_training_opens_no_request(scientist, monkeypatch):
    from types import SimpleNamespace

    name = unique_name()
    make_policy(name, scientist)
    run = services.retraining_on_alert(**alert(43, name))

    def training_that_outlives_the_stall_time(config, progress):
        later = timezone.now() + timedelta(
            seconds=services.settings.TRAINER["STALL_SECONDS"] + 1
        )
        services.retraining_recover(now=later)
        return SimpleNamespace(
            version=7, tests_passed=True, metrics={}, data={}, failures=[]
        )

    monkeypatch.setattr(
        "trainer.services.training_run", training_that_outlives_the_stall_time
    )
    services.retraining_run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == RunStatus.ERROR and run.model_version is None
    assert not PromotionRequest.objects.filter(registered_model__name=name).exists()
