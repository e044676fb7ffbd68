"""The predict endpoint: formats, response shape, logging, idempotency."""

import pytest

from inference.models import PredictionLog, RequestError, StoredResponse
from tests.inference.conftest import token_client

SPAM = (
    "WINNER!! You have been selected to receive a £900 prize reward! Call 09061701461"
)
HAM = "Are we still on for dinner tonight? I'll be there around 7"
URL = "/api/v1/models/sms-spam/predict"


def test_predict_returns_labels_probabilities_outliers_and_logs_each_row(
    api, served_sms, client_user
):
    # when
    response = api.post(
        URL, {"inputs": [{"message": SPAM}, {"message": HAM}]}, format="json"
    )
    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model_name"] == "sms-spam" and body["model_version"] == 1
    assert [p["label"] for p in body["predictions"]] == ["spam", "ham"]
    first = body["predictions"][0]
    assert set(first["probabilities"]) == {"ham", "spam"}
    assert first["probabilities"]["spam"] > 0.5
    assert isinstance(first["is_outlier"], bool)
    assert isinstance(first["outlier_score"], float)
    rows = list(PredictionLog.objects.order_by("row_index"))
    assert [str(r.prediction_id) for r in rows] == [
        p["prediction_id"] for p in body["predictions"]
    ]
    assert rows[0].inputs == {"message": SPAM} and rows[0].prediction == "spam"
    assert rows[0].client == client_user and rows[0].source == "api"
    assert rows[0].alias == "production" and rows[0].model_version == 1
    assert rows[0].request_id == body["request_id"] == response["X-Request-ID"]


@pytest.mark.parametrize(
    "payload",
    [
        {"dataframe_split": {"columns": ["message"], "data": [[SPAM], [HAM]]}},
        {"dataframe_records": [{"message": SPAM}, {"message": HAM}]},
        {"instances": [{"message": SPAM}, {"message": HAM}]},
        {"instances": [SPAM, HAM]},
        {"inputs": {"message": [SPAM, HAM]}},
    ],
    ids=[
        "dataframe_split",
        "dataframe_records",
        "instances",
        "instances-values",
        "inputs-columns",
    ],
)
def test_mlflow_scoring_formats_are_accepted(api, served_sms, payload):
    response = api.post(URL, payload, format="json")
    assert response.status_code == 200, response.content
    assert [p["label"] for p in response.json()["predictions"]] == ["spam", "ham"]


def test_invocations_answers_like_mlflow_models_serve(api, served_sms):
    response = api.post(
        "/invocations",
        {"dataframe_split": {"columns": ["message"], "data": [[SPAM], [HAM]]}},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json() == {"predictions": ["spam", "ham"]}
    assert PredictionLog.objects.filter(source="invocations").count() == 2


def test_version_and_alias_selection(make_user, served_sms):
    # a data scientist may name a version or another stage alias
    api = token_client(make_user("ds", roles=["requesters"]))
    assert (
        api.post(
            f"{URL}?version=1", {"inputs": [{"message": HAM}]}, format="json"
        ).json()["alias"]
        == ""
    )
    missing = api.post(
        f"{URL}?alias=staging", {"inputs": [{"message": HAM}]}, format="json"
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "model_not_found"
    both = api.post(
        f"{URL}?alias=staging&version=1", {"inputs": [{"message": HAM}]}, format="json"
    )
    assert both.status_code == 400


def test_unknown_model_is_404_and_recorded_as_request_error(api, served_sms):
    response = api.post(
        "/api/v1/models/nope/predict", {"inputs": [{"message": HAM}]}, format="json"
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"
    error = RequestError.objects.get()
    assert (error.model_name, error.status_code) == ("nope", 404)


def test_retry_with_same_request_id_returns_stored_response(api, served_sms):
    # given a first request with a request id
    first = api.post(
        URL,
        {"inputs": [{"message": SPAM}]},
        format="json",
        HTTP_X_REQUEST_ID="order-42",
    )
    # when the client retries it
    again = api.post(
        URL,
        {"inputs": [{"message": SPAM}]},
        format="json",
        HTTP_X_REQUEST_ID="order-42",
    )
    # then it gets the same answer and nothing is predicted twice
    assert again.status_code == 200
    assert again.json() == first.json()
    assert PredictionLog.objects.count() == 1
    assert StoredResponse.objects.count() == 1


def test_request_id_reused_with_another_body_is_a_conflict(api, served_sms):
    api.post(
        URL, {"inputs": [{"message": SPAM}]}, format="json", HTTP_X_REQUEST_ID="r-1"
    )
    response = api.post(
        URL, {"inputs": [{"message": HAM}]}, format="json", HTTP_X_REQUEST_ID="r-1"
    )
    assert response.status_code == 409
    assert PredictionLog.objects.count() == 1


def test_request_ids_are_per_client(api, other_api, served_sms):
    a = api.post(
        URL, {"inputs": [{"message": SPAM}]}, format="json", HTTP_X_REQUEST_ID="same"
    )
    b = other_api.post(
        URL, {"inputs": [{"message": SPAM}]}, format="json", HTTP_X_REQUEST_ID="same"
    )
    assert a.status_code == b.status_code == 200
    assert (
        a.json()["predictions"][0]["prediction_id"]
        != (b.json()["predictions"][0]["prediction_id"])
    )
    assert PredictionLog.objects.count() == 2


def test_tabular_model_serves_numeric_rows(api, served_tabular):
    from governance.models import ModelVersion

    fields = ModelVersion.objects.get(registered_model__name="breast-cancer").signature
    row = {f["name"]: 1.0 for f in fields["inputs"]}
    response = api.post(
        "/api/v1/models/breast-cancer/predict", {"inputs": [row]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["predictions"][0]["label"] in ("benign", "malignant")


def test_many_rows_are_logged_exactly_as_answered(api, served_sms, client_user):
    # (on PostgreSQL, more than a few rows take the COPY path)
    texts = [f"message number {i} WIN £{i}00 now" for i in range(25)]
    response = api.post(
        URL,
        {"inputs": [{"message": t} for t in texts]},
        format="json",
        HTTP_X_REQUEST_ID="bulk-25",
    )
    assert response.status_code == 200
    body = response.json()
    logged = {str(r.prediction_id): r for r in PredictionLog.objects.all()}
    assert len(logged) == 25
    for i, row in enumerate(body["predictions"]):
        log = logged[row["prediction_id"]]
        assert log.inputs == {"message": texts[i]} and log.row_index == i
        assert log.prediction == row["label"]
        assert log.probabilities == row["probabilities"]
        assert log.outlier_score == row["outlier_score"]
        assert log.is_outlier == row["is_outlier"]
        assert (log.client, log.request_id, log.model_version) == (
            client_user,
            "bulk-25",
            1,
        )
