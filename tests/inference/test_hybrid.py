"""Hybrid serving: rows asked for by key are answered from the precomputed
store without calling the model, others online; every answered row is logged
once with its source; an alias move makes old entries miss; bad keys,
expired entries and missing inputs get clear answers."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from core import registry
from core.registry import mlflow_store
from inference.models import (
    Feedback,
    PrecomputedPrediction,
    PredictionLog,
    RequestError,
)
from inference.services.batch import batch_job_create, batch_job_run
from inference.serving import ServedModel, model_cache
from tests.inference.conftest import confirm, token_client

URL = "/api/v1/models/sms-spam/predict"
TEXTS = {
    "c0": "see you at the station at 7",
    "c1": "WINNER!! claim your free prize now, call 0800 123",
    "c2": "can you pick up milk on the way home",
    "c3": "URGENT your account is locked, text BACK to win cash",
    "c4": "thanks for dinner yesterday",
}


def _fill(owner, texts: dict[str, str] = TEXTS) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    out = io.StringIO()
    csv.writer(out).writerows([["id", "message"], *texts.items()])
    job = batch_job_create(
        model_name="sms-spam",
        client=owner,
        upload=SimpleUploadedFile("keys.csv", out.getvalue().encode()),
        key_column="id",
        enqueue=False,
    )
    assert batch_job_run(job_id=job.pk).status == "succeeded"


@pytest.fixture
def filled(served_sms, make_user):
    _fill(make_user("ds", roles=["requesters"]))
    return served_sms


@pytest.fixture
def model_calls(monkeypatch):
    """The number of rows of each call of any served model's predict."""
    calls: list[int] = []
    real = ServedModel.predict

    def counting(self, rows):
        calls.append(len(rows))
        return real(self, rows)

    monkeypatch.setattr(ServedModel, "predict", counting)
    return calls


def test_precomputed_rows_are_answered_without_calling_the_model(
    api, filled, client_user, model_calls
):
    entries = {e.key: e for e in PrecomputedPrediction.objects.all()}
    keyed = [
        {"key": "c0"},
        {"key": "c1"},
        {"key": "c2", "inputs": {"message": TEXTS["c2"]}},  # same inputs
        {"key": "c3", "inputs": {"message": "lunch at noon?"}},  # other inputs
        {"inputs": {"message": "running late, sorry"}},  # no key
        {"key": "c4"},
    ]
    # when a client asks by key
    response = api.post(URL, {"keyed": keyed}, format="json")
    # then the store answers the keys with a fresh entry for the same inputs
    assert response.status_code == 200, response.content
    rows = response.json()["predictions"]
    assert [r["source"] for r in rows] == [
        "precomputed",
        "precomputed",
        "precomputed",
        "online",
        "online",
        "precomputed",
    ]
    assert [r["key"] for r in rows] == ["c0", "c1", "c2", "c3", None, "c4"]
    for row in rows:
        if row["source"] == "precomputed":
            entry = entries[row["key"]]
            assert row["label"] == entry.prediction
            assert row["probabilities"] == entry.probabilities
            assert row["computed_at"] == entry.computed_at.isoformat()
        else:
            assert row["computed_at"] is None
    assert rows[1]["label"] == "spam" and rows[0]["label"] == "ham"
    # and the model predicted only the two online rows, in one call
    assert model_calls == [2]
    # and every answered row is logged once, with its source and position
    logged = list(PredictionLog.objects.order_by("row_index"))
    assert Counter(log.source for log in logged) == {"precomputed": 4, "api": 2}
    assert [str(log.prediction_id) for log in logged] == [
        r["prediction_id"] for r in rows
    ]
    assert [log.row_index for log in logged] == list(range(6))
    assert logged[0].inputs == {"message": TEXTS["c0"]}  # the entry's inputs
    assert logged[3].inputs == {"message": "lunch at noon?"}
    assert {log.client_id for log in logged} == {client_user.pk}
    assert {log.model_version for log in logged} == {filled.version}
    assert len({log.request_id for log in logged}) == 1


def test_a_retried_keyed_request_is_not_logged_twice(api, filled, model_calls):
    body = {"keyed": [{"key": "c0"}, {"key": "zz", "inputs": {"message": "hi"}}]}
    first = api.post(URL, body, format="json", HTTP_X_REQUEST_ID="keyed-1")
    again = api.post(URL, body, format="json", HTTP_X_REQUEST_ID="keyed-1")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert PredictionLog.objects.count() == 2
    assert model_calls == [1]


def test_an_alias_move_makes_old_entries_miss(api, filled, model_calls):
    v1 = registry.version_get("sms-spam", filled.version)
    v2 = int(
        mlflow_store.client()
        .create_model_version("sms-spam", v1.source, v1.run_id, tags=v1.tags)
        .version
    )
    model_cache().get(name="sms-spam")
    confirm("sms-spam", v2)
    try:
        model_cache().refresh_aliases()
        # a key alone: v1's entry is not served for v2
        missed = api.post(URL, {"keyed": [{"key": "c1"}]}, format="json")
        assert missed.status_code == 404
        error = missed.json()["error"]
        assert error["code"] == "precomputed_not_found"
        assert f"v{v2} for key 'c1' (only of v{v1.version}" in error["message"]
        # with its inputs: predicted online by v2
        online = api.post(
            URL,
            {"keyed": [{"key": "c1", "inputs": {"message": TEXTS["c1"]}}]},
            format="json",
        )
        assert online.status_code == 200, online.content
        body = online.json()
        assert body["model_version"] == v2
        assert body["predictions"][0]["source"] == "online"
        assert model_calls == [1]
        log = PredictionLog.objects.get()
        assert (log.model_version, log.source) == (v2, "api")
    finally:
        confirm("sms-spam", v1.version)


@pytest.mark.parametrize(
    ("keyed", "status", "code", "field"),
    [
        ([{"key": ""}], 400, "invalid_key", "keyed[0].key"),
        ([{"key": 7}], 400, "invalid_key", "keyed[0].key"),
        ([{"key": "c0"}, {"key": "k" * 300}], 400, "invalid_key", "keyed[1].key"),
        ([{"key": "c0", "extra": 1}], 400, "invalid_input", "keyed[0].extra"),
        ([{}], 400, "invalid_input", "keyed[0]"),
        ([{"key": "c0", "inputs": {"text": "x"}}], 400, "invalid_input", None),
        ([], 400, "invalid_input", "keyed"),
        ([{"key": "c0"}, {"key": "nobody"}], 404, "precomputed_not_found", None),
    ],
)
def test_bad_keyed_requests_are_refused_naming_the_problem(
    api, filled, model_calls, keyed, status, code, field
):
    response = api.post(URL, {"keyed": keyed}, format="json")
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    if field is not None:
        assert field in error["fields"], error
    assert not PredictionLog.objects.exists()
    assert model_calls == []
    assert RequestError.objects.get().code == code


def test_a_keyed_body_takes_no_other_container(api, filled):
    response = api.post(
        URL,
        {"keyed": [{"key": "c0"}], "inputs": [{"message": "hi"}]},
        format="json",
    )
    assert response.status_code == 400
    assert "a keyed body has only 'keyed'" in response.json()["error"]["message"]


def test_an_expired_entry_is_410_without_inputs_and_online_with_them(
    api, filled, model_calls
):
    PrecomputedPrediction.objects.filter(key="c0").update(
        computed_at=timezone.now() - timedelta(days=3),
        expires_at=timezone.now() - timedelta(days=2),
    )
    expired = api.post(URL, {"keyed": [{"key": "c0"}, {"key": "c1"}]}, format="json")
    assert expired.status_code == 410
    error = expired.json()["error"]
    assert error["code"] == "precomputed_expired"
    assert "key 'c0' expired at" in error["fields"]["keyed[0]"][0]
    assert "keyed[1]" not in error["fields"]
    assert model_calls == []
    online = api.post(
        URL,
        {"keyed": [{"key": "c0", "inputs": {"message": TEXTS["c0"]}}]},
        format="json",
    )
    assert online.json()["predictions"][0]["source"] == "online"
    assert model_calls == [1]


def test_feedback_works_on_a_precomputed_prediction(api, filled):
    body = api.post(URL, {"keyed": [{"key": "c1"}]}, format="json").json()
    prediction_id = body["predictions"][0]["prediction_id"]
    response = api.post(
        f"/api/v1/predictions/{prediction_id}/feedback",
        {"label": "spam"},
        format="json",
    )
    assert response.status_code in (200, 201), response.content
    feedback = Feedback.objects.get()
    assert feedback.label == "spam"
    assert feedback.prediction.source == "precomputed"
    assert str(feedback.prediction.prediction_id) == prediction_id


@pytest.mark.parametrize("write_back", [True, False])
def test_online_rows_are_written_back_when_configured(
    api, filled, settings, model_calls, write_back
):
    settings.INFERENCE = {**settings.INFERENCE, "PRECOMPUTED_WRITE_BACK": write_back}
    first = api.post(
        URL,
        {"keyed": [{"key": "new", "inputs": {"message": "hello there"}}]},
        format="json",
    )
    assert first.json()["predictions"][0]["source"] == "online"
    again = api.post(URL, {"keyed": [{"key": "new"}]}, format="json")
    if write_back:
        assert again.status_code == 200
        assert again.json()["predictions"][0]["source"] == "precomputed"
        entry = PrecomputedPrediction.objects.get(key="new")
        assert entry.batch_id is None and entry.model_version == filled.version
    else:
        assert again.status_code == 404
    assert model_calls == [1]


def test_keyed_requests_follow_the_serving_rules(api, filled):
    # an API client is served production only, by key as otherwise
    response = api.post(
        f"{URL}?alias=staging", {"keyed": [{"key": "c0"}]}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "serving_not_permitted"


def test_a_data_scientist_asking_by_version_is_logged_elevated(filled, make_user):
    api = token_client(make_user("ds2", roles=["requesters"]))
    response = api.post(
        f"{URL}?version={filled.version}", {"keyed": [{"key": "c0"}]}, format="json"
    )
    assert response.json()["predictions"][0]["source"] == "precomputed"
    log = PredictionLog.objects.get()
    assert (log.source, log.served_as, log.alias) == ("precomputed", "elevated", "")
