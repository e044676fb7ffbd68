"""Authentication, roles, object-level access and feedback."""

import uuid

import pytest

from inference.models import Feedback, FeedbackHistory, PredictionLog
from tests.inference.conftest import token_client

URL = "/api/v1/models/sms-spam/predict"


def _predict(api, text="hello there"):
    response = api.post(URL, {"inputs": [{"message": text}]}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["predictions"][0]["prediction_id"]


def test_anonymous_is_refused_everywhere_but_health(client, served_sms):
    for method, url in [
        ("post", URL),
        ("post", "/invocations"),
        ("get", "/api/v1/predictions"),
        ("post", "/api/v1/feedback"),
        ("get", "/api/v1/batch-jobs"),
    ]:
        response = getattr(client, method)(url, {}, content_type="application/json")
        assert response.status_code in (401, 403), url
        assert "error" in response.json()
    assert client.get("/health/live").status_code == 200


@pytest.mark.parametrize(
    ("roles", "allowed"),
    [
        (["api_clients"], True),
        (["requesters"], True),
        (["ops"], True),
        (["viewers"], False),
        (["production_approvers"], False),
        ([], False),
    ],
)
def test_who_may_predict(make_user, served_sms, roles, allowed):
    api = token_client(make_user("u", roles=roles))
    response = api.post(URL, {"inputs": [{"message": "hi"}]}, format="json")
    assert response.status_code == (200 if allowed else 403)


def test_a_client_sees_only_its_own_predictions(api, other_api, served_sms):
    mine = _predict(api)
    theirs = _predict(other_api)
    assert api.get(f"/api/v1/predictions/{mine}").status_code == 200
    assert api.get(f"/api/v1/predictions/{theirs}").status_code == 404
    listed = [
        p["prediction_id"] for p in api.get("/api/v1/predictions").json()["results"]
    ]
    assert listed == [mine]
    # nor can it label another client's prediction
    response = api.post(
        f"/api/v1/predictions/{theirs}/feedback", {"label": "ham"}, format="json"
    )
    assert response.status_code == 404
    assert not Feedback.objects.exists()


def test_feedback_is_checked_and_replacement_kept_in_history(api, served_sms):
    pid = _predict(api)
    url = f"/api/v1/predictions/{pid}/feedback"
    assert api.post(url, {"label": "eggs"}, format="json").status_code == 400
    assert api.post(url, {}, format="json").status_code == 400
    first = api.post(url, {"label": "ham"}, format="json")
    assert first.status_code == 200 and first.json()["status"] == "created"
    assert (
        api.post(url, {"label": "ham"}, format="json").json()["status"] == "unchanged"
    )
    second = api.post(url, {"label": "spam"}, format="json")
    assert second.json()["status"] == "replaced"
    assert Feedback.objects.get().label == "spam"
    change = FeedbackHistory.objects.get()
    assert (change.previous_label, change.new_label) == ("ham", "spam")
    unknown = api.post(
        f"/api/v1/predictions/{uuid.uuid4()}/feedback", {"label": "ham"}, format="json"
    )
    assert unknown.status_code == 404
    # the label shows on the prediction and in monitoring's frame
    assert api.get(f"/api/v1/predictions/{pid}").json()["label"] == "spam"


def test_bulk_feedback_reports_each_item(api, other_api, served_sms):
    ids = [_predict(api, f"message {i}") for i in range(3)]
    theirs = _predict(other_api)
    items = [
        {"prediction_id": ids[0], "label": "ham"},
        {"prediction_id": ids[1], "label": "spam"},
        {"prediction_id": ids[2], "label": "maybe"},
        {"prediction_id": theirs, "label": "ham"},
        {"prediction_id": "not-a-uuid", "label": "ham"},
    ]
    response = api.post("/api/v1/feedback", {"items": items}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["created"], body["errors"]) == (2, 3)
    statuses = [r["status"] for r in body["results"]]
    assert statuses == ["created", "created", "error", "error", "error"]
    assert body["results"][2]["error"]["code"] == "invalid_label"
    assert body["results"][3]["error"]["code"] == "not_found"
    again = api.post(
        "/api/v1/feedback",
        {"items": [{"prediction_id": ids[0], "label": "spam"}]},
        format="json",
    ).json()
    assert again["replaced"] == 1
    assert FeedbackHistory.objects.count() == 1


def test_bulk_feedback_takes_ten_thousand_labels(api, served_sms, client_user):
    # given 10,000 logged predictions of this client
    rows = [
        PredictionLog(
            model_name="sms-spam",
            model_version=1,
            inputs={"message": "m"},
            prediction="ham",
            latency_ms=1.0,
            client=client_user,
        )
        for _ in range(10_000)
    ]
    PredictionLog.objects.bulk_create(rows, batch_size=2000)
    items = [{"prediction_id": str(r.prediction_id), "label": "spam"} for r in rows]
    # when they are labelled in one call
    response = api.post("/api/v1/feedback", {"items": items}, format="json")
    # then every label is stored
    assert response.status_code == 200
    assert response.json()["created"] == 10_000
    assert Feedback.objects.count() == 10_000
    too_many = api.post("/api/v1/feedback", {"items": items + items[:1]}, format="json")
    assert too_many.status_code == 400


def test_predict_throttle_limits_each_client(api, other_api, served_sms, settings):
    from core import ratelimit

    ratelimit.reset()
    settings.MODELGATE = {
        **settings.MODELGATE,
        "RATE_LIMIT_PREFIX": f"mg-test:{id(api)}",
    }
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "predict": "3/hour",
        },
    }
    codes = [
        api.post(URL, {"inputs": [{"message": "x"}]}, format="json").status_code
        for _ in range(4)
    ]
    assert codes == [200, 200, 200, 429]
    assert (
        other_api.post(URL, {"inputs": [{"message": "x"}]}, format="json").status_code
        == 200
    )
    ratelimit.reset()


def test_extra_fields_cannot_set_server_side_values(
    api, served_sms, client_user, make_user
):
    """RELIABILITY check 5 (mass assignment) on the inference endpoints."""
    # predict: a client cannot choose the version, status or time of its log rows
    refused = api.post(
        URL,
        {
            "inputs": [{"message": "hi"}],
            "model_version": 9,
            "status": "ok",
            "created_at": "2001-01-01T00:00:00Z",
        },
        format="json",
    )
    assert refused.status_code == 400
    assert {"model_version", "status", "created_at"} <= set(
        refused.json()["error"]["fields"]
    )
    in_row = api.post(URL, {"inputs": [{"message": "hi", "client": 1}]}, format="json")
    assert in_row.status_code == 400
    assert PredictionLog.objects.count() == 0
    # feedback: only the label is taken from the body
    pid = _predict(api)
    other = make_user("mallory", roles=["api_clients"])
    response = api.post(
        f"/api/v1/predictions/{pid}/feedback",
        {
            "label": "ham",
            "client": other.pk,
            "prediction": 12345,
            "created_at": "2001-01-01T00:00:00Z",
        },
        format="json",
    )
    assert response.status_code == 200
    feedback = Feedback.objects.get()
    assert feedback.client == client_user
    assert str(feedback.prediction.prediction_id) == pid
    assert feedback.created_at.year > 2001
    # batch: status, progress and version are the server's
    from django.core.files.uploadedfile import SimpleUploadedFile

    job = api.post(
        "/api/v1/batch-jobs",
        {
            "model": "sms-spam",
            "file": SimpleUploadedFile("a.csv", b"message\nhi\n"),
            "status": "succeeded",
            "rows_done": 99,
            "model_version": 7,
            "client": other.pk,
        },
        format="multipart",
    )
    assert job.status_code == 202
    body = job.json()
    assert (body["status"], body["rows_done"], body["model_version"]) == (
        "pending",
        0,
        None,
    )
    from inference.models import BatchJob

    assert BatchJob.objects.get(pk=body["id"]).client == client_user
