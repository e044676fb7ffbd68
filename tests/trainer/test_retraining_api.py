"""The retraining API (list, read, start by hand) and the model page's
retraining section. No training runs here: a started run stays queued."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from core.roles import Role
from governance.choices import AuditKind
from governance.models import AuditEvent
from trainer.choices import RunStatus
from trainer.models import RetrainingPolicy, RetrainingRun

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def users(make_user):
    return {
        "scientist": make_user("dana", roles=[Role.REQUESTER]),
        "viewer": make_user("vic", roles=[Role.VIEWER]),
        "approver": make_user("bo", roles=[Role.STAGING_APPROVER, Role.VIEWER]),
        "client": make_user("bot", roles=[Role.API_CLIENT]),
    }


@pytest.fixture
def policy(users):
    return RetrainingPolicy.objects.create(
        model_name=f"sms-api-{uuid.uuid4().hex[:6]}",
        requester=users["scientist"],
        alert_kinds=["drift_share_above"],
    )


def runs_url(name: str) -> str:
    return f"/api/retraining/models/{name}/runs/"


def finished_run(policy, key: str, **fields) -> RetrainingRun:
    now = timezone.now()
    values = {
        "policy": policy,
        "model_name": policy.model_name,
        "trigger": "alert",
        "trigger_key": key,
        "trigger_detail": {"alert_id": int(key.split(":")[1])},
        "status": RunStatus.SUCCEEDED,
        "started_at": now - timezone.timedelta(seconds=42),
        "finished_at": now,
        "model_version": 3,
        "tests_passed": True,
        "metrics": {"f1": 0.93, "mcc": 0.91, "rows_test": 900.0},
        "log": "[1/5] prepare\n",
    }
    values.update(fields)
    return RetrainingRun.objects.create(**values)


def test_governance_roles_list_a_models_runs_newest_first(client, users, policy):
    older = finished_run(policy, "alert:1")
    newer = finished_run(policy, "alert:2")
    client.force_login(users["viewer"])

    response = client.get(runs_url(policy.model_name))
    only = client.get(runs_url(policy.model_name), {"alert": 1})

    assert response.status_code == 200
    body = response.json()
    assert [r["id"] for r in body["results"]] == [newer.pk, older.pk]
    first = body["results"][0]
    assert first["trigger"] == "alert" and first["alert_id"] == 2
    assert first["duration_seconds"] == pytest.approx(42, abs=1)
    assert first["metrics"]["f1"] == 0.93
    assert "log" not in first
    assert [r["id"] for r in only.json()["results"]] == [older.pk]


def test_one_run_with_its_log(client, users, policy):
    run = finished_run(policy, "alert:5")
    client.force_login(users["approver"])

    found = client.get(f"{runs_url(policy.model_name)}{run.pk}/")
    elsewhere = client.get(f"{runs_url('another-model')}{run.pk}/")

    assert found.status_code == 200 and found.json()["log"] == "[1/5] prepare\n"
    assert elsewhere.status_code == 404
    assert "no retraining run" in elsewhere.json()["error"]["message"]


def test_a_data_scientist_starts_a_run_by_hand(
    client, users, policy, django_capture_on_commit_callbacks
):
    client.force_login(users["scientist"])

    with django_capture_on_commit_callbacks() as published:
        response = client.post(runs_url(policy.model_name))
    again = client.post(runs_url(policy.model_name))

    assert response.status_code == 202, response.content
    body = response.json()
    assert body["trigger"] == "manual" and body["status"] == "queued"
    assert body["requested_by"] == "dana"
    assert len(published) == 1  # the training job
    assert again.status_code == 409
    assert "not finished" in again.json()["error"]["message"]


@pytest.mark.parametrize("role", ["viewer", "approver", "client"])
def test_only_data_scientists_start_runs(client, users, policy, role):
    client.force_login(users[role])

    response = client.post(runs_url(policy.model_name))

    assert response.status_code == 403
    assert not RetrainingRun.objects.filter(policy=policy).exists()
    denied = AuditEvent.objects.filter(
        kind=AuditKind.DENIED, model_name=policy.model_name
    ).get()
    assert denied.payload["action"] == "retraining_start"


def test_clients_and_strangers_cannot_list_runs(client, users, policy):
    anonymous = client.get(runs_url(policy.model_name))
    client.force_login(users["client"])
    api_client = client.get(runs_url(policy.model_name))

    assert anonymous.status_code in (401, 403)
    assert api_client.status_code == 403


def test_starting_a_model_without_policy_names_the_problem(client, users):
    client.force_login(users["scientist"])

    response = client.post(runs_url("no-such-model"))

    assert response.status_code == 400
    error = response.json()["error"]
    assert "no retraining policy" in error["message"]
    assert "model_name" in error["fields"]


def test_bad_alert_filter_is_a_400(client, users, policy):
    client.force_login(users["viewer"])

    response = client.get(runs_url(policy.model_name), {"alert": "x"})

    assert response.status_code == 400
    assert "alert" in response.json()["error"]["fields"]


def test_the_schema_describes_the_retraining_api(client, users):
    client.force_login(users["viewer"])

    schema = client.get("/api/schema/", {"format": "json"}).json()

    paths = schema["paths"]
    runs = paths["/api/retraining/models/{name}/runs/"]
    assert {"get", "post"} <= set(runs)
    assert "202" in runs["post"]["responses"]
    assert "/api/retraining/models/{name}/runs/{id}/" in paths


def test_the_model_page_shows_the_runs_with_version_and_request(
    client, users, sms_model, make_user
):
    policy = RetrainingPolicy.objects.create(
        model_name="sms-spam", requester=users["scientist"]
    )
    finished_run(policy, "alert:9")
    failed = finished_run(
        policy,
        "alert:10",
        status=RunStatus.FAILED,
        tests_passed=False,
        model_version=4,
        error="Failed model tests: mcc",
    )
    client.force_login(users["viewer"])

    page = client.get("/registry/sms-spam/").content.decode()

    assert 'id="retraining"' in page and "Retraining runs" in page
    assert f'data-run="{failed.pk}"' in page
    assert "alert #9" in page and "v3" in page and "F1 0.930" in page
    assert 'id="retraining-alert-9"' in page  # the monitoring alert links here
    assert "42 s" in page
    assert "tests failed" in page and "Failed model tests: mcc" in page
    assert "never moves an alias" in page


def test_the_seed_command_writes_an_audited_policy(users):
    from django.core.management import CommandError, call_command

    name = f"sms-seed-{uuid.uuid4().hex[:6]}"
    call_command(
        "seed_retraining_policy",
        "--model",
        name,
        "--requester",
        "dana",
        "--alert-kind",
        "feature_drifted",
        "--set",
        "split.random_state=7",
    )
    call_command("seed_retraining_policy", "--model", name, "--requester", "dana")

    policy = RetrainingPolicy.objects.get(model_name=name)
    assert policy.alert_kinds == ["drift_share_above"]
    assert policy.requester == users["scientist"] and policy.overrides == []
    events = AuditEvent.objects.filter(
        kind=AuditKind.RETRAINING_POLICY_CHANGED, model_name=name
    ).order_by("sequence")
    assert [e.actor for e in events] == ["manage.py seed_retraining_policy"] * 2
    assert events[1].payload["before"]["overrides"] == ["split.random_state=7"]
    with pytest.raises(CommandError, match="no active user 'nobody'"):
        call_command("seed_retraining_policy", "--model", name, "--requester", "nobody")
