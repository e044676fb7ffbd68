"""Alert notifications (e-mail, HMAC-signed webhook to a local server),
traffic rules on the rollups, governance hooks, admin actions."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import urllib.error
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from inference.models import PredictionLog, RequestError
from monitoring.calculations.rules import Outcome
from monitoring.models import Alert, Report
from monitoring.services import rollups
from monitoring.services.alerts import (
    alert_fire,
    alert_snooze,
    alerts_evaluate_traffic,
)
from monitoring.services.notify import alert_notify_send
from tests.monitoring.factories import add_rule, make_monitor

pytestmark = pytest.mark.django_db
WEBHOOK_PORT = 8131


class _Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook_server():
    _Receiver.received = []
    server = HTTPServer(("127.0.0.1", WEBHOOK_PORT), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield _Receiver.received
    server.shutdown()
    server.server_close()


def _fire(rule):
    alert, _ = alert_fire(
        rule=rule,
        outcome=Outcome(True, 0.42, "drift share 42% above 30%"),
        version=1,
        report=None,
        now=timezone.now(),
    )
    return alert


def test_opening_is_notified_once_by_mail_and_signed_webhook(webhook_server):
    monitor = make_monitor(
        "breast-cancer",
        webhook_url=f"http://127.0.0.1:{WEBHOOK_PORT}/hook",
        webhook_secret="hook-secret",
    )
    alert = _fire(add_rule(monitor, "drift_share_above", threshold=0.3))
    assert alert_notify_send(alert_id=alert.pk, event="opened") is True
    assert alert_notify_send(alert_id=alert.pk, event="opened") is False  # once
    assert len(mail.outbox) == 1 and "drift share 42%" in mail.outbox[0].subject
    assert len(webhook_server) == 1
    headers, body = webhook_server[0]
    timestamp = headers["X-Modelgate-Timestamp"]
    expected = (
        "sha256="
        + hmac.new(
            b"hook-secret", timestamp.encode() + b"." + body, hashlib.sha256
        ).hexdigest()
    )
    assert hmac.compare_digest(headers["X-Modelgate-Signature"], expected)
    payload = json.loads(body)
    assert payload["event"] == "alert.opened"
    assert payload["alert"]["id"] == alert.pk and payload["alert"]["value"] == 0.42


def test_failed_webhook_leaves_the_opening_to_retry():
    monitor = make_monitor(
        "breast-cancer",
        recipients="",
        webhook_url="http://127.0.0.1:9/nothing-listens",
        webhook_secret="s",
    )
    alert = _fire(add_rule(monitor, "drift_share_above", threshold=0.3))
    with pytest.raises(urllib.error.URLError):
        alert_notify_send(alert_id=alert.pk, event="opened")
    assert Alert.objects.get(pk=alert.pk).notified_at is None


def test_snoozed_alert_is_not_notified(make_user):
    monitor = make_monitor("breast-cancer")
    alert = _fire(add_rule(monitor, "drift_share_above", threshold=0.3))
    alert_snooze(alert=alert, minutes=30, user=make_user("ops1", roles=["ops"]))
    assert alert_notify_send(alert_id=alert.pk, event="opened") is False
    assert mail.outbox == []


def test_opening_and_resolving_rerun_governance_checks(
    monkeypatch, django_capture_on_commit_callbacks
):
    from governance import services as governance_services
    from monitoring import tasks
    from monitoring.services.alerts import alert_resolve

    # notifications are published too; keep them out of this test (an eager
    # task would close the test's connection in Celery's prerun hook)
    published = []
    monkeypatch.setattr(tasks.alert_notify, "delay", lambda *a: published.append(a))
    calls = []
    monkeypatch.setattr(
        governance_services,
        "promotion_checks_schedule",
        lambda *, model_name: calls.append(model_name) or 0,
    )
    monitor = make_monitor("breast-cancer")
    rule = add_rule(monitor, "drift_share_above", threshold=0.3)
    with django_capture_on_commit_callbacks(execute=True):
        _fire(rule)
    with django_capture_on_commit_callbacks(execute=True):
        _fire(rule)  # de-duplicated: no new opening
    with django_capture_on_commit_callbacks(execute=True):
        alert_resolve(rule=rule, now=timezone.now())
    assert calls == ["breast-cancer", "breast-cancer"]
    assert [event for _id, event in published] == ["opened", "resolved"]


def _log(n, *, minutes_ago: int, model="breast-cancer"):
    now = timezone.now()
    PredictionLog.objects.bulk_create(
        PredictionLog(
            model_name=model, model_version=1, inputs={}, prediction="benign",
            latency_ms=5.0, created_at=now - timedelta(minutes=minutes_ago, seconds=i),
        )
        for i in range(n)
    )  # fmt: skip


def test_no_traffic_and_error_rate_rules_on_rollups():
    from governance.models import RegisteredModel

    RegisteredModel.objects.get_or_create(name="breast-cancer")
    monitor = make_monitor("breast-cancer")
    quiet = add_rule(monitor, "no_traffic", minutes=30, severity="info")
    errors = add_rule(monitor, "error_rate_above", threshold=0.2, minutes=30)
    refused = add_rule(
        monitor,
        "error_rate_above",
        threshold=0.2,
        minutes=30,
        count_client_errors=True,
    )
    _log(40, minutes_ago=90)  # traffic, but older than the rules' 30 minutes
    rollups.rollups_update_predictions()
    alerts_evaluate_traffic()
    assert Alert.objects.filter(rule=quiet, status="open").exists()
    assert not Alert.objects.filter(rule=errors).exists()  # no requests: no rate
    # traffic resumes, and a third of the requests are refused
    _log(20, minutes_ago=5)
    for _ in range(10):  # a third of the 30 requests of the last minutes
        RequestError.objects.create(
            model_name="breast-cancer",
            model_version=1,
            status_code=400,
            code="invalid_input",
            created_at=timezone.now() - timedelta(minutes=5),
        )
    rollups.rollups_update_predictions()
    rollups.rollups_update_errors()
    alerts_evaluate_traffic()
    assert Alert.objects.get(rule=quiet).status == "resolved"
    # the client's bad input is no server failure: only the rule that also
    # counts refused requests (4xx) fires
    assert not Alert.objects.filter(rule=errors).exists()
    assert Alert.objects.filter(rule=refused, status="open").exists()
    # then the server fails: 10 more requests answered 503 (20 of 40 handled)
    for _ in range(10):
        RequestError.objects.create(
            model_name="breast-cancer",
            model_version=1,
            status_code=503,
            code="model_unavailable",
        )
    later = timezone.now() + timedelta(minutes=2)  # past the lag and the minute
    rollups.rollups_update_errors(now=later)
    alerts_evaluate_traffic(now=later)
    alert = Alert.objects.get(rule=errors, status="open")
    assert alert.value == pytest.approx(10 / 40)
    assert alert.title.startswith("breast-cancer: server error rate 25.0% above 20.0%")


def test_admin_runs_a_report_for_the_last_window(client, make_user):
    admin = make_user("root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    monitor = make_monitor("breast-cancer")
    response = client.post(
        reverse("admin:monitoring_monitor_changelist"),
        {"action": "run_last_window", "_selected_action": [monitor.pk]},
        follow=True,
    )
    assert response.status_code == 200
    report = Report.objects.get(monitor=monitor)
    assert report.kind == "on_demand"
    assert f"/monitoring/reports/{report.pk}/" in response.content.decode()
    # the chosen-window action asks for the window first
    form = client.post(
        reverse("admin:monitoring_monitor_changelist"),
        {"action": "run_window", "_selected_action": [monitor.pk]},
    )
    assert b"window_start" in form.content
    end = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(days=1)
    client.post(
        reverse("admin:monitoring_monitor_changelist"),
        {
            "action": "run_window",
            "_selected_action": [monitor.pk],
            "apply": "1",
            "window_start": (end - timedelta(hours=2)).strftime("%Y-%m-%d %H:%M"),
            "window_end": end.strftime("%Y-%m-%d %H:%M"),
        },
    )
    assert Report.objects.filter(monitor=monitor).count() == 2


def test_admin_saving_a_monitor_syncs_its_schedule(client, make_user):
    client.force_login(make_user("root2", is_staff=True, is_superuser=True))
    response = client.post(
        reverse("admin:monitoring_monitor_add"),
        {
            "name": "bc", "model_name": "breast-cancer", "alias": "production",
            "enabled": "on", "schedule": "7 * * * *", "window_minutes": 60,
            "num_method": "wasserstein", "num_threshold": 0.1,
            "cat_method": "jensenshannon", "cat_threshold": 0.1,
            "text_method": "abs_text_content_drift", "text_threshold": 0.55,
            "column_overrides": "{}", "drift_share": 0.5, "min_rows": 100,
            "max_rows": 50000, "text_sample_rows": 5000,
            "max_text_length": 1000, "min_label_coverage": 0.3, "min_labels": 30,
            "performance_margin": 0.05, "recipients": "", "webhook_url": "",
            "webhook_secret": "",
            "rules-TOTAL_FORMS": 0, "rules-INITIAL_FORMS": 0,
        },
    )  # fmt: skip
    assert response.status_code == 302, response.content[:2000]
    from monitoring.models import Monitor

    monitor = Monitor.objects.get(name="bc")
    assert monitor.periodic_task is not None
    assert monitor.periodic_task.crontab.minute == "7"
