"""The edge channel: the ONNX export served by governed alias, and the
telemetry of browser predictions logged once each through the one log path."""

import hashlib
import uuid
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from core import registry
from inference.models import PredictionLog
from tests.inference.conftest import confirm

pytestmark = pytest.mark.django_db

MESSAGES = [
    "WINNER!! You have been selected to receive a £900 prize. Call 09061701461",
    "Are we still on for dinner tonight? I'll be there around 7",
]


def _item(for_version: int, message: str, **extra) -> dict:
    item = {
        "id": str(uuid.uuid4()),
        "version": for_version,
        "inputs": {"message": message},
        "label": "ham",
        "probabilities": {"ham": 0.9, "spam": 0.1},
        "predicted_at": timezone.now().isoformat(),
        "latency_ms": 1.5,
    }
    item.update(extra)
    return item


def test_edge_api_serves_the_production_export_with_its_metadata(api, served_sms):
    response = api.get("/api/v1/models/sms-spam/edge")

    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    version = registry.version_get("sms-spam", served_sms.version)
    assert hashlib.sha256(body).hexdigest() == version.tags["modelgate.edge.sha256"]
    assert response["X-Model-Sha256"] == version.tags["modelgate.edge.sha256"]
    assert response["X-Model-Version"] == str(served_sms.version)
    assert response["X-Model-Labels"] == '["ham", "spam"]'
    assert response["X-Model-Inputs"] == '[{"name": "message", "type": "string"}]'
    etag = response["ETag"]

    # then a revalidation of the same alias is a 304 without the file
    again = api.get("/api/v1/models/sms-spam/edge", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304


def test_the_export_runs_with_the_servers_labels(api, served_sms):
    import onnxruntime as ort

    body = b"".join(api.get("/api/v1/models/sms-spam/edge").streaming_content)
    session = ort.InferenceSession(body, providers=["CPUExecutionProvider"])
    labels, probabilities = session.run(
        None, {"message": np.array(MESSAGES, dtype=object).reshape(-1, 1)}
    )
    online = api.post(
        "/api/v1/models/sms-spam/predict",
        {"inputs": [{"message": m} for m in MESSAGES]},
        format="json",
    ).json()["predictions"]
    assert list(labels) == [p["label"] for p in online] == ["spam", "ham"]
    for row, served in zip(probabilities, online, strict=True):
        assert abs(row[1] - served["probabilities"]["spam"]) < 1e-4


def _train_tabular(name: str, *overrides: str) -> int:
    """A version of the tabular demo registered under another name (the demo
    models' own version lists stay as other tests expect them)."""
    from tests.conftest import FAST, ROOT
    from trainer.config import load_config
    from trainer.services import training_run

    config = load_config(
        ROOT / "params-tabular.yaml",
        [*FAST, f"mlflow.registered_model={name}", *overrides],
    )
    return training_run(config=config, progress=lambda _m: None).version


def test_a_moved_alias_gives_a_new_etag_and_version(api, trained_models):
    # given two versions, the first in production and fetched by a browser
    first, second = _train_tabular("edge-moves"), _train_tabular("edge-moves")
    confirm("edge-moves", first)
    fetched = api.get("/api/v1/models/edge-moves/edge")
    assert fetched["X-Model-Version"] == str(first)

    # when production moves (the model cache follows the alias)
    confirm("edge-moves", second)
    from inference.serving import reset_model_cache

    reset_model_cache()
    moved = api.get(
        "/api/v1/models/edge-moves/edge", HTTP_IF_NONE_MATCH=fetched["ETag"]
    )

    # then the browser's revalidation gets the new version, with a new ETag
    assert moved.status_code == 200
    assert moved["X-Model-Version"] == str(second)
    assert moved["ETag"] != fetched["ETag"]


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("?alias=previous", 403, "serving_not_permitted"),  # an API client
        ("?alias=champion", 400, "alias_not_served"),
        ("?version=1", 400, "invalid_input"),
        ("?alias=bad alias", 400, "invalid_input"),
    ],
)
def test_only_governed_aliases_reach_the_edge(api, served_sms, query, status, code):
    response = api.get(f"/api/v1/models/sms-spam/edge{query}")
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_previous_never_reaches_the_edge_even_for_a_data_scientist(
    make_user, served_sms
):
    from tests.inference.conftest import token_client

    api = token_client(make_user("ds", roles=["requesters"]))
    response = api.get("/api/v1/models/sms-spam/edge?alias=previous")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "alias_not_served_to_edge"


def test_a_version_without_a_valid_export_answers_404_with_the_reason(
    api, trained_models
):
    # given a version whose export failed its parity test at training time
    failed = _train_tabular("edge-failed", "edge.parity.max_probability_diff=1e-12")
    confirm("edge-failed", failed)

    # then it is served online, but not to the edge
    response = api.get("/api/v1/models/edge-failed/edge")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "no_edge_export"
    assert "parity:" in error["message"]
    online = api.post(
        "/api/v1/models/edge-failed/predict", {"inputs": [{}]}, format="json"
    )
    assert online.status_code == 400  # served: the row is checked, not refused


def test_viewers_may_not_fetch_the_edge_model(make_user, served_sms):
    from tests.inference.conftest import token_client

    viewer = token_client(make_user("vera", roles=["viewers"]))
    assert viewer.get("/api/v1/models/sms-spam/edge").status_code == 403


def test_telemetry_lands_in_the_log_once_with_channel_edge(
    api, client_user, served_sms
):
    version = served_sms.version
    items = [_item(version, m) for m in MESSAGES]
    url = "/api/v1/models/sms-spam/edge/telemetry"

    first = api.post(url, {"alias": "production", "items": items}, format="json")
    retry = api.post(url, {"alias": "production", "items": items}, format="json")

    assert first.status_code == 200 and first.json()["created"] == 2
    assert retry.json() == {
        "created": 0,
        "duplicates": 2,
        "results": [{**r, "status": "duplicate"} for r in first.json()["results"]],
    }
    rows = PredictionLog.objects.filter(source="edge")
    assert rows.count() == 2
    row = rows.get(inputs={"message": MESSAGES[0]})
    assert row.model_version == version and row.alias == "production"
    assert row.client_id == client_user.pk
    assert row.outlier_score is not None  # scored on the server
    assert row.probabilities == {"ham": 0.9, "spam": 0.1}

    # and an edge prediction takes feedback like any other
    pid = first.json()["results"][0]["prediction_id"]
    feedback = api.post(
        f"/api/v1/predictions/{pid}/feedback", {"label": "spam"}, format="json"
    )
    assert feedback.status_code == 200


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": "not-a-uuid"}, "items[1].id"),
        ({"version": 999}, None),
        ({"label": "maybe"}, "items[1].label"),
        ({"inputs": {"msg": "x"}}, None),
        ({"predicted_at": "yesterday"}, "items[1].predicted_at"),
        (
            {"predicted_at": (timezone.now() - timedelta(days=30)).isoformat()},
            "items[1].predicted_at",
        ),
        ({"probabilities": {"ham": 2.0, "spam": 0.1}}, "items[1].probabilities"),
    ],
)
def test_a_bad_telemetry_item_is_named_and_nothing_is_recorded(
    api, served_sms, change, field
):
    good = _item(served_sms.version, MESSAGES[0])
    bad = _item(served_sms.version, MESSAGES[1], **change)
    response = api.post(
        "/api/v1/models/sms-spam/edge/telemetry", {"items": [good, bad]}, format="json"
    )
    assert 400 <= response.status_code < 500
    if field:
        assert field in response.json()["error"]["fields"]
    assert not PredictionLog.objects.filter(source="edge").exists()
