"""Pages, API, /metrics and the beat schedule of monitors."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from rest_framework.test import APIClient

from monitoring.calculations.rules import Outcome
from monitoring.choices import AlertStatus
from monitoring.models import Alert, Monitor, Report
from monitoring.services.alerts import alert_fire
from monitoring.services.monitors import (
    monitor_delete,
    monitor_schedule_sync,
    monitor_schedules_sync_all,
)
from tests.monitoring.factories import add_rule, make_monitor

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops(make_user):
    return make_user("erin", roles=["ops", "viewers"])


@pytest.fixture
def viewer(make_user):
    return make_user("victor", roles=["viewers"])


def _alert(monitor, kind="drift_share_above"):
    rule = add_rule(monitor, kind, threshold=0.1)
    alert, _ = alert_fire(
        rule=rule,
        outcome=Outcome(True, 0.4, "drift share 40% above 10%"),
        version=1,
        report=None,
        now=timezone.now(),
    )
    return alert


def test_pages_need_a_people_role(client, make_user, viewer):
    url = reverse("monitoring:overview")
    assert client.get(url).status_code == 302  # to login
    client.force_login(make_user("client", roles=["api_clients"]))
    assert client.get(url).status_code == 403
    client.force_login(viewer)
    response = client.get(url)
    assert response.status_code == 200
    assert b"vendor/plotly-basic.min.js" in response.content


def test_overview_shows_badges_and_model_page_everything(client, viewer):
    monitor = make_monitor("breast-cancer")
    now = timezone.now()
    Report.objects.create(
        monitor=monitor,
        model_name="breast-cancer",
        window_start=now - timedelta(hours=2),
        window_end=now - timedelta(hours=1),
        status="succeeded",
        health="drifting",
        drift_share=0.6,
        summary={
            "status": "ok",
            "columns": [
                {"column": "a", "group": "feature", "method": "wasserstein",
                 "threshold": 0.1, "score": 0.3, "drifted": True, "kind": "num"}
            ],
            "feature_drift": {"columns": 1, "drifted": 1, "share": 1.0, "limit": 0.5},
            "outliers": {"rows": 10, "flagged": 1, "top": [
                {"prediction_id": "3f2b8c1e-0000-4000-8000-000000000001",
                 "score": 0.9, "flagged": True, "created_at": "x"}]},
        },
    )  # fmt: skip
    _alert(monitor)
    client.force_login(viewer)
    page = client.get(reverse("monitoring:overview")).content.decode()
    assert 'data-health="drifting"' in page
    page = client.get(
        reverse("monitoring:model-dashboard", kwargs={"name": "breast-cancer"})
    ).content.decode()
    for chart in ("traffic", "latency", "errors", "outliers", "predictions", "drift",
                  "columns", "performance"):  # fmt: skip
        assert f'id="chart-{chart}"' in page
    assert "drift share 40% above 10%" in page
    assert "/monitoring/predictions/3f2b8c1e-0000-4000-8000-000000000001/" in page
    # viewers see alerts but no buttons
    assert "Acknowledge" not in page


def test_report_page_and_html_file(client, viewer, settings, tmp_path):
    monitor = make_monitor("breast-cancer")
    now = timezone.now()
    report = Report.objects.create(
        monitor=monitor, model_name="breast-cancer", status="running", progress=40,
        window_start=now - timedelta(hours=1), window_end=now,
    )  # fmt: skip
    client.force_login(viewer)
    page = client.get(reverse("monitoring:report-detail", kwargs={"pk": report.pk}))
    assert b'http-equiv="refresh"' in page.content and b"40 %" in page.content
    html_url = reverse("monitoring:report-html", kwargs={"pk": report.pk})
    assert client.get(html_url).status_code == 404
    path = settings.MEDIA_ROOT / "monitoring" / "reports" / "r.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("<html>evidently</html>")
    Report.objects.filter(pk=report.pk).update(html_file="monitoring/reports/r.html")
    response = client.get(html_url)
    assert response.status_code == 200
    assert b"evidently" in b"".join(response.streaming_content)


def test_ops_acknowledges_and_snoozes_from_the_page(client, ops, viewer):
    alert = _alert(make_monitor("breast-cancer"))
    ack = reverse("monitoring:alert-acknowledge", kwargs={"pk": alert.pk})
    client.force_login(viewer)
    assert client.post(ack).status_code == 403
    client.force_login(ops)
    assert client.post(ack).status_code == 302
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED and alert.acknowledged_by == ops
    client.post(
        reverse("monitoring:alert-snooze", kwargs={"pk": alert.pk}), {"minutes": "90"}
    )
    alert.refresh_from_db()
    assert alert.snoozed_until > timezone.now() + timedelta(minutes=85)


def test_alert_deduplicates_and_resolves(tabular_model):
    from monitoring.services.alerts import alert_resolve

    monitor = make_monitor("breast-cancer")
    rule = add_rule(monitor, "drift_share_above", threshold=0.1)
    now = timezone.now()
    first, opened = alert_fire(
        rule=rule, outcome=Outcome(True, 0.3, "x"), version=1, report=None, now=now
    )
    second, again = alert_fire(
        rule=rule, outcome=Outcome(True, 0.5, "x"), version=1, report=None, now=now
    )
    assert opened and not again and first.pk == second.pk
    assert second.occurrences == 2 and second.value == 0.5
    assert alert_resolve(rule=rule, now=now) == 1
    third, reopened = alert_fire(
        rule=rule, outcome=Outcome(True, 0.5, "x"), version=1, report=None, now=now
    )
    assert reopened and third.pk != first.pk
    assert Alert.objects.filter(rule=rule).count() == 2


def test_api_runs_a_report_with_progress_and_refuses_bad_input(ops, viewer):
    monitor = make_monitor("breast-cancer")
    api = APIClient()
    url = reverse("monitoring:api-report-run", kwargs={"pk": monitor.pk})
    end = timezone.now().replace(minute=0, second=0, microsecond=0)
    body = {"window_start": (end - timedelta(hours=1)).isoformat(),
            "window_end": end.isoformat()}  # fmt: skip
    api.force_authenticate(viewer)
    assert api.post(url, body, format="json").status_code == 403
    api.force_authenticate(ops)
    response = api.post(url, body, format="json")
    assert response.status_code == 202
    assert response.json()["status"] in ("pending", "succeeded", "failed")
    again = api.post(url, body, format="json")
    assert again.status_code == 200 and again.json()["id"] == response.json()["id"]
    detail = api.get(
        reverse("monitoring:api-report", kwargs={"pk": response.json()["id"]})
    )
    assert detail.status_code == 200 and "progress" in detail.json()
    for bad in (
        {},
        {"window_start": "yesterday", "window_end": end.isoformat()},
        {"window_start": end.isoformat(), "window_end": end.isoformat()},
    ):
        response = api.post(url, bad, format="json")
        assert response.status_code == 400, bad
        assert set(response.json()["error"]) >= {"code", "message"}
    missing = reverse("monitoring:api-report-run", kwargs={"pk": 999999})
    assert api.post(missing, body, format="json").status_code == 404


def test_api_compare_and_alerts(ops):
    monitor = make_monitor("breast-cancer")
    alert = _alert(monitor)
    api = APIClient()
    api.force_authenticate(ops)
    end = timezone.now().replace(minute=0, second=0, microsecond=0)
    response = api.post(
        reverse("monitoring:api-compare", kwargs={"pk": monitor.pk}),
        {
            "window_start": (end - timedelta(hours=1)).isoformat(),
            "window_end": end.isoformat(),
            "reference_start": (end - timedelta(days=1, hours=1)).isoformat(),
            "reference_end": (end - timedelta(days=1)).isoformat(),
        },
        format="json",
    )
    assert response.status_code == 202 and response.json()["kind"] == "comparison"
    no_reference = api.post(
        reverse("monitoring:api-compare", kwargs={"pk": monitor.pk}),
        {"window_start": (end - timedelta(hours=1)).isoformat(),
         "window_end": end.isoformat()},
        format="json",
    )  # fmt: skip
    assert no_reference.status_code == 400
    listed = api.get(reverse("monitoring:api-alerts"), {"model": "breast-cancer"})
    assert [a["id"] for a in listed.json()] == [alert.pk]
    ack = api.post(reverse("monitoring:api-alert-acknowledge", kwargs={"pk": alert.pk}))
    assert ack.status_code == 200 and ack.json()["status"] == "acknowledged"
    assert (
        api.post(
            reverse("monitoring:api-alert-acknowledge", kwargs={"pk": alert.pk})
        ).status_code
        == 409
    )
    bad = api.post(
        reverse("monitoring:api-alert-snooze", kwargs={"pk": alert.pk}),
        {"minutes": 0},
        format="json",
    )
    assert bad.status_code == 400 and "minutes" in bad.json()["error"]["fields"]


def test_metrics_needs_a_token_or_an_ops_login(client, settings, ops, viewer):
    settings.MONITORING = {**settings.MONITORING, "METRICS_TOKEN": "s3cret"}
    monitor = make_monitor("breast-cancer")
    now = timezone.now()
    Report.objects.create(
        monitor=monitor, model_name="breast-cancer", status="succeeded",
        window_start=now - timedelta(hours=1), window_end=now, model_version=1,
        drift_share=0.25, health="healthy",
        summary={"outliers": {"rate": 0.02}, "performance": {"coverage": 0.4}},
    )  # fmt: skip
    _alert(monitor)
    url = reverse("monitoring:metrics")
    assert client.get(url).status_code == 401
    assert client.get(url, HTTP_AUTHORIZATION="Bearer nope").status_code == 401
    client.force_login(viewer)
    assert client.get(url).status_code == 403
    client.logout()
    response = client.get(url, HTTP_AUTHORIZATION="Bearer s3cret")
    assert response.status_code == 200
    text = response.content.decode()
    assert 'modelgate_drift_share{model="breast-cancer",monitor=' in text
    assert "modelgate_outlier_rate" in text and "modelgate_label_coverage" in text
    assert (
        'modelgate_alerts_active{model="breast-cancer",severity="warning"} 1.0' in text
    )
    assert 'modelgate_report_jobs{status="succeeded"} 1.0' in text
    assert "modelgate_predict_latency_seconds" in text  # core's process metrics
    client.force_login(ops)
    assert client.get(url).status_code == 200


def test_metrics_allowed_addresses(client, settings):
    settings.MONITORING = {**settings.MONITORING, "METRICS_ALLOWED_IPS": ["127.0.0.1"]}
    assert client.get(reverse("monitoring:metrics")).status_code == 200


def test_monitor_schedule_follows_the_monitor():
    monitor = make_monitor("breast-cancer", schedule="5 * * * *")
    task = monitor_schedule_sync(monitor=monitor)
    assert task.task == "monitoring.tasks.monitor_tick"
    assert json.loads(task.kwargs) == {"monitor_id": monitor.pk}
    assert task.crontab.minute == "5" and task.enabled
    monitor.schedule, monitor.enabled = "*/15 * * * *", False
    monitor.save()
    again = monitor_schedule_sync(monitor=monitor)
    assert again.pk == task.pk and again.crontab.minute == "*/15" and not again.enabled
    stray = PeriodicTask.objects.create(
        name="old monitor", task="monitoring.tasks.monitor_tick", interval=None,
        crontab=again.crontab,
    )  # fmt: skip
    assert monitor_schedules_sync_all() == 1
    assert not PeriodicTask.objects.filter(pk=stray.pk).exists()
    monitor_delete(monitor=Monitor.objects.get(pk=monitor.pk))
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()


def test_monitor_validation():
    from django.core.exceptions import ValidationError

    monitor = Monitor(
        name="x", model_name="m", num_method="chisquare", schedule="bad",
        recipients="ops@example.com, nope", webhook_url="https://hooks.example.com/x",
        column_overrides={"c": {"kind": "cat", "method": "wasserstein"}},
    )  # fmt: skip
    with pytest.raises(ValidationError) as exc:
        monitor.full_clean()
    assert set(exc.value.message_dict) >= {
        "num_method", "schedule", "recipients", "webhook_secret", "column_overrides"
    }  # fmt: skip


def test_plotly_bundle_is_served_without_a_cdn():
    from django.contrib.staticfiles import finders

    path = finders.find("vendor/plotly-basic.min.js")
    assert path and path.endswith("static/vendor/plotly-basic.min.js")
