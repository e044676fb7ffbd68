"""seed_monitors and simulate_traffic on the trained demo models."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from inference.models import Feedback, PredictionLog
from monitoring.models import AlertRule, Monitor, Report, TrafficRollup

pytestmark = pytest.mark.django_db


def test_seed_monitors_creates_one_per_model_and_schedules_them(
    tabular_model, sms_model
):
    call_command("seed_monitors", "--model", "not-registered-yet")
    names = set(Monitor.objects.values_list("model_name", flat=True))
    assert {"breast-cancer", "sms-spam", "not-registered-yet"} <= names
    assert AlertRule.objects.filter(monitor__model_name="sms-spam").count() == 6
    assert (
        PeriodicTask.objects.filter(task="monitoring.tasks.monitor_tick").count()
        == Monitor.objects.count()
    )
    call_command("seed_monitors")  # idempotent
    assert Monitor.objects.filter(model_name="sms-spam").count() == 1


def test_simulate_traffic_writes_predictions_rollups_and_reports(tabular_model):
    call_command("seed_monitors")
    Monitor.objects.filter(model_name="breast-cancer").update(html_report=False)
    call_command(
        "simulate_traffic", "--model", "breast-cancer", "--hours", "3",
        "--per-hour", "600", "--drift-hours", "1", "--labels", "0.5",
    )  # fmt: skip
    assert PredictionLog.objects.filter(model_name="breast-cancer").count() == 1800
    assert Feedback.objects.exists()
    assert TrafficRollup.objects.filter(model_name="breast-cancer").exists()
    reports = Report.objects.filter(model_name="breast-cancer").order_by("window_end")
    assert [r.status for r in reports] == ["succeeded"] * 3
    # every 4th numeric feature is shifted in the last hour (8 of 30)
    assert reports.last().summary["feature_drift"]["drifted"] >= 7
    assert reports.first().summary["feature_drift"]["drifted"] <= 2


def test_the_new_spam_scenario_needs_a_text_model(tabular_model):
    from django.core.management.base import CommandError

    call_command("seed_monitors")
    with pytest.raises(CommandError, match="needs a model with one text input"):
        call_command(
            "simulate_traffic", "--model", "breast-cancer", "--hours", "1",
            "--drift-hours", "1", "--scenario", "new-spam", "--no-reports",
        )  # fmt: skip
    assert not PredictionLog.objects.filter(model_name="breast-cancer").exists()


def test_campaign_messages_vary_and_share_no_word_with_the_old_spam():
    import numpy as np

    from monitoring.services.simulate import SPAM_WORDS, campaign_message

    rng = np.random.default_rng(0)
    messages = [campaign_message(rng) for _ in range(300)]
    assert len(set(messages)) == 300  # deduplication keeps them all
    assert not any(word in m for m in messages for word in SPAM_WORDS)
