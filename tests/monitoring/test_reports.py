"""The report job's service layer on the trained demo models (no worker):
verdicts, idempotency, claims, attempt cap, late labels, alerts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from monitoring.calculations.windows import last_complete_window
from monitoring.choices import AlertStatus, ReportStatus
from monitoring.models import Alert, PerformanceWindow, Report
from monitoring.selectors import open_alerts_for_model
from monitoring.services import reports as report_services
from monitoring.services.performance import performance_late_labels_refresh
from tests.monitoring.factories import add_rule, log_rows, make_monitor, window_frame

pytestmark = pytest.mark.django_db

DRIFTED = {"mean_radius": 2.0, "worst_texture": -1.5, "mean_concavity": 2.5}


def _window(hours_ago: int = 1):
    start, end = last_complete_window(timezone.now(), 60)
    shift = timedelta(hours=hours_ago - 1)
    return start - shift, end - shift


def _report(monitor, start, end) -> Report:
    report, _ = report_services.report_get_or_create(
        monitor=monitor, start=start, end=end
    )
    return report


def test_injected_drift_is_flagged_in_exactly_those_columns(tabular_reference):
    # given a window of 400 predictions with three shifted features
    monitor = make_monitor("breast-cancer", model_version=1)
    add_rule(monitor, "feature_drifted", column="mean_radius", severity="critical")
    add_rule(monitor, "drift_share_above", threshold=0.05)
    start, end = _window()
    frame = window_frame(tabular_reference, 1500, shift=DRIFTED, seed=1)
    log_rows(frame, model_name="breast-cancer", version=1, start=start, end=end)
    # when
    outcome = report_services.report_execute(report_id=_report(monitor, start, end).pk)
    # then
    report = Report.objects.get(pk=outcome.report_id)
    assert report.status == ReportStatus.SUCCEEDED and outcome.computed
    feature = report.summary["feature_drift"]
    assert sorted(feature["drifted_columns"]) == sorted(DRIFTED)
    assert feature["columns"] == 30
    column = next(c for c in report.summary["columns"] if c["column"] == "mean_radius")
    assert (column["method"], column["threshold"]) == ("wasserstein", 0.1)
    assert report.health == "healthy"  # 3 of 30 is below the 0.5 drift share
    alerts = Alert.objects.filter(monitor=monitor, status=AlertStatus.OPEN)
    assert {a.rule.kind for a in alerts} == {"feature_drifted", "drift_share_above"}
    found = open_alerts_for_model(model_name="breast-cancer", version=1)
    assert {a["rule"] for a in found} == {"feature_drifted", "drift_share_above"}
    assert found[0]["url"].startswith("/monitoring/models/breast-cancer/")
    assert open_alerts_for_model(model_name="breast-cancer", version=2) == []
    assert len(mail.outbox) == 1
    assert "breast-cancer" in mail.outbox[0].subject
    assert f"/monitoring/reports/{report.pk}/" in mail.outbox[0].body
    # the digest also carries the audit chain head outside the database
    from governance.selectors import audit_chain_head

    head = audit_chain_head()
    assert f"Audit chain head: #{head['sequence']} {head['hash']}" in (
        mail.outbox[0].body
    )


def test_reference_like_window_raises_no_drift_alert(tabular_reference):
    monitor = make_monitor("breast-cancer", model_version=1)
    add_rule(monitor, "drift_share_above", threshold=0.1)
    add_rule(monitor, "feature_drifted", column="prediction")
    start, end = _window()
    log_rows(
        window_frame(tabular_reference, 1500, seed=2),
        model_name="breast-cancer",
        version=1,
        start=start,
        end=end,
    )
    report_services.report_execute(report_id=_report(monitor, start, end).pk)
    report = Report.objects.get(monitor=monitor)
    assert report.summary["feature_drift"]["drifted"] == 0
    assert report.summary["prediction_drift"]["drifted"] is False
    assert not Alert.objects.filter(monitor=monitor).exists()


def test_second_delivery_finds_the_work_done(tabular_reference):
    monitor = make_monitor("breast-cancer", model_version=1)
    start, end = _window()
    log_rows(
        window_frame(tabular_reference, 200),
        model_name="breast-cancer",
        version=1,
        start=start,
        end=end,
    )
    report = _report(monitor, start, end)
    first = report_services.report_execute(report_id=report.pk)
    again, created = report_services.report_get_or_create(
        monitor=monitor, start=start, end=end
    )
    second = report_services.report_execute(report_id=report.pk)
    assert first.computed and not second.computed and not created
    assert again.pk == report.pk
    assert Report.objects.filter(monitor=monitor).count() == 1
    assert Report.objects.get(pk=report.pk).attempts == 1
    assert len(mail.outbox) == 1


def test_valid_claim_of_another_worker_means_retry_later(tabular_reference):
    monitor = make_monitor("breast-cancer", model_version=1)
    start, end = _window()
    report = _report(monitor, start, end)
    Report.objects.filter(pk=report.pk).update(
        status=ReportStatus.RUNNING,
        attempts=1,
        claim_token="other",
        lease_expires_at=timezone.now() + timedelta(seconds=60),
    )
    with pytest.raises(report_services.ReportBusy) as busy:
        report_services.report_execute(report_id=report.pk)
    assert 50 < busy.value.countdown <= 62
    # the other worker's claim expires (it died): the job is taken over
    Report.objects.filter(pk=report.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert report_services.reports_recover() == 1
    outcome = report_services.report_execute(report_id=report.pk)
    assert outcome.status == ReportStatus.SUCCEEDED
    assert Report.objects.get(pk=report.pk).attempts == 2


def test_always_crashing_job_fails_after_the_attempt_cap(monkeypatch, settings):
    from monitoring.services import compute

    settings.MONITORING = {**settings.MONITORING, "REPORT_MAX_ATTEMPTS": 3}

    def crash(**_kwargs):
        raise RuntimeError("reference store is corrupt")

    monkeypatch.setattr(compute, "report_data_compute", crash)
    monitor = make_monitor("breast-cancer", model_version=1)
    start, end = _window()
    report = _report(monitor, start, end)
    for _ in range(2):
        with pytest.raises(report_services.ReportRetry):
            report_services.report_execute(report_id=report.pk)
    outcome = report_services.report_execute(report_id=report.pk)
    assert outcome.status == ReportStatus.FAILED
    report.refresh_from_db()
    assert report.attempts == 3 and "corrupt" in report.error
    # more deliveries change nothing
    assert report_services.report_execute(report_id=report.pk).status == "failed"
    assert Report.objects.get(pk=report.pk).attempts == 3
    assert len(mail.outbox) == 0


def test_window_with_too_few_rows_is_not_enough_data(tabular_reference):
    monitor = make_monitor("breast-cancer", model_version=1, min_rows=100)
    start, end = _window()
    log_rows(
        window_frame(tabular_reference, 20),
        model_name="breast-cancer",
        version=1,
        start=start,
        end=end,
    )
    report_services.report_execute(report_id=_report(monitor, start, end).pk)
    report = Report.objects.get(monitor=monitor)
    assert report.health == "no_data" and report.summary["status"] == "no_data"


def test_label_and_concept_drift_after_feedback_shifts(tabular_reference, settings):
    # given two windows; labels agree with predictions in the first and are
    # mostly "malignant" in the second (the world changed)
    monitor = make_monitor("breast-cancer", model_version=1, min_labels=30)
    add_rule(monitor, "metric_below", metric="f1", threshold=0.9, severity="critical")
    (s1, e1), (s2, e2) = _window(2), _window(1)
    calm = window_frame(tabular_reference, 300, seed=3)
    log_rows(
        calm,
        model_name="breast-cancer",
        version=1,
        start=s1,
        end=e1,
        labels=calm["prediction"].tolist(),
    )
    shifted = window_frame(tabular_reference, 300, seed=4)
    labels = ["malignant" if i % 3 else p for i, p in enumerate(shifted["prediction"])]
    log_rows(
        shifted, model_name="breast-cancer", version=1, start=s2, end=e2, labels=labels
    )
    # when
    for start, end in ((s1, e1), (s2, e2)):
        report_services.report_execute(report_id=_report(monitor, start, end).pk)
    first = Report.objects.get(monitor=monitor, window_start=s1).summary
    second = Report.objects.get(monitor=monitor, window_start=s2).summary
    # then
    assert first["label_drift"]["drifted"] is False
    assert first["performance"]["degraded"] is False
    assert second["label_drift"]["drifted"] is True
    assert second["performance"]["degraded"] is True
    assert second["performance"]["coverage"] == pytest.approx(1.0)
    assert Report.objects.get(monitor=monitor, window_start=s2).health == "degraded"
    window = PerformanceWindow.objects.get(monitor=monitor, window_start=s2)
    assert window.degraded and not window.provisional
    assert Alert.objects.filter(rule__kind="metric_below", status="open").count() == 1


def test_late_labels_recompute_the_performance_window(tabular_reference):
    monitor = make_monitor("breast-cancer", model_version=1, min_label_coverage=0.5)
    start, end = _window()
    frame = window_frame(tabular_reference, 200, seed=5)
    rows = log_rows(frame, model_name="breast-cancer", version=1, start=start, end=end)
    report_services.report_execute(report_id=_report(monitor, start, end).pk)
    assert performance_late_labels_refresh() == 0
    window = PerformanceWindow.objects.get(monitor=monitor)
    assert window.labelled == 0 and window.provisional
    # labels arrive a day later for 150 of the 200 predictions
    from inference.models import Feedback

    Feedback.objects.bulk_create(
        Feedback(prediction=p, label=str(frame["target"][i]))
        for i, p in enumerate(rows[:150])
    )
    assert performance_late_labels_refresh() == 1
    window.refresh_from_db()
    assert window.labelled == 150 and window.coverage == pytest.approx(0.75)
    assert window.provisional is False
    assert window.metrics["accuracy"]["reference"] is not None
    # nothing changed since: once the commit lag has passed, nothing recomputed
    later = timezone.now() + timedelta(minutes=5)
    performance_late_labels_refresh(now=later)
    assert performance_late_labels_refresh(now=later) == 0


def test_text_model_report_uses_descriptors_and_domain_classifier(sms_model):
    from monitoring.models import Monitor
    from monitoring.services.monitors import monitor_target, reference_sample_load

    reference = reference_sample_load(
        target=monitor_target(monitor=Monitor(model_name="sms-spam"), version=1)
    )
    monitor = make_monitor("sms-spam", model_version=1, text_sample_rows=400)
    start, end = _window()
    frame = window_frame(reference, 300, seed=6)
    frame["message"] = [
        f"URGENT! claim your £{900 + i} prize at www.win{i}.com call 0906170{i:04d}"
        for i in range(len(frame))
    ]
    log_rows(frame, model_name="sms-spam", version=1, start=start, end=end)
    report_services.report_execute(report_id=_report(monitor, start, end).pk)
    report = Report.objects.get(monitor=monitor)
    columns = {c["column"]: c for c in report.summary["columns"]}
    assert columns["message"]["method"] == "abs_text_content_drift"
    assert columns["message"]["drifted"] is True
    assert columns["message.has_url"]["drifted"] is True
    assert columns["message.digit_share"]["drifted"] is True
    assert report.health == "drifting"


def test_on_demand_report_rejects_bad_windows_and_reuses_existing():
    from core.exceptions import ApplicationError

    monitor = make_monitor("breast-cancer")
    now = timezone.now()
    with pytest.raises(ApplicationError, match="end after"):
        report_services.report_request(monitor=monitor, start=now, end=now)
    with pytest.raises(ApplicationError, match="ended"):
        report_services.report_request(
            monitor=monitor, start=now, end=now + timedelta(hours=2)
        )
    start = now - timedelta(hours=3)
    first, created = report_services.report_request(
        monitor=monitor, start=start, end=now - timedelta(hours=2)
    )
    second, again = report_services.report_request(
        monitor=monitor, start=start, end=now - timedelta(hours=2)
    )
    assert created and not again and first.pk == second.pk


def test_failed_report_can_be_rerun_on_demand():
    monitor = make_monitor("breast-cancer")
    start, end = _window()
    report = _report(monitor, start, end)
    Report.objects.filter(pk=report.pk).update(status="failed", attempts=3)
    again, created = report_services.report_request(
        monitor=monitor, start=start, end=end
    )
    assert not created and again.status == "pending" and again.attempts == 0


def test_digest_is_retried_when_smtp_fails(tabular_reference, monkeypatch):
    from django.core.mail import EmailMultiAlternatives

    monitor = make_monitor("breast-cancer", model_version=1)
    start, end = _window()
    log_rows(
        window_frame(tabular_reference, 200),
        model_name="breast-cancer",
        version=1,
        start=start,
        end=end,
    )
    report = _report(monitor, start, end)
    original = EmailMultiAlternatives.send

    def refuse(self, fail_silently=False):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr(EmailMultiAlternatives, "send", refuse)
    with pytest.raises(report_services.ReportRetry):
        report_services.report_execute(report_id=report.pk)
    report.refresh_from_db()
    assert report.status == "succeeded" and report.email_sent_at is None
    monkeypatch.setattr(EmailMultiAlternatives, "send", original)
    outcome = report_services.report_execute(report_id=report.pk)
    assert not outcome.computed
    assert len(mail.outbox) == 1
    assert Report.objects.get(pk=report.pk).email_sent_at is not None


def test_comparison_of_two_windows_flags_what_changed_between_them(tabular_reference):
    monitor = make_monitor("breast-cancer", model_version=1)
    (s1, e1), (s2, e2) = _window(2), _window(1)
    log_rows(
        window_frame(tabular_reference, 4000, seed=21),
        model_name="breast-cancer", version=1, start=s1, end=e1,
    )  # fmt: skip
    log_rows(
        window_frame(tabular_reference, 4000, shift={"mean_area": 2.0}, seed=22),
        model_name="breast-cancer", version=1, start=s2, end=e2,
    )  # fmt: skip
    report, created = report_services.report_compare(
        monitor=monitor, current_version=1, current_start=s2, current_end=e2,
        reference_version=None, reference_start=s1, reference_end=e1,
    )  # fmt: skip
    again, _ = report_services.report_compare(
        monitor=monitor, current_version=1, current_start=s2, current_end=e2,
        reference_version=None, reference_start=s1, reference_end=e1,
    )  # fmt: skip
    assert created and again.pk == report.pk and report.kind == "comparison"
    report_services.report_execute(report_id=report.pk)
    report.refresh_from_db()
    assert report.summary["feature_drift"]["drifted_columns"] == ["mean_area"]
    assert report.summary["reference"]["source"].startswith("v1 predictions")
    assert report.summary["reference"]["rows"] == 4000
    assert not Alert.objects.filter(monitor=monitor).exists()  # no alerting
