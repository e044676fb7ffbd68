"""MLflow webhooks: signature (MLflow's own signing code), replay and
staleness checks, de-duplication by delivery id, and the sync they trigger."""

import json
import time
import uuid

import pytest
from django.urls import reverse
from mlflow.webhooks.delivery import _generate_hmac_signature

from core import registry
from core.registry import mlflow_store
from governance.models import ModelVersion, WebhookDelivery

SECRET = "s3cret-webhook-key"
URL = "governance:api-mlflow-webhook"

pytestmark = pytest.mark.django_db


@pytest.fixture
def webhook_secret(settings):
    settings.GOVERNANCE = {**settings.GOVERNANCE, "WEBHOOK_SECRET": SECRET}


def _delivery(name, *, version="2", secret=SECRET, timestamp=None, delivery_id=None):
    body = json.dumps(
        {
            "entity": "model_version",
            "action": "created",
            "timestamp": "2026-11-25T10:00:00+00:00",
            "data": {"name": name, "version": version, "source": "x", "tags": {}},
        }
    )
    delivery_id = delivery_id or str(uuid.uuid4())
    timestamp = str(int(time.time())) if timestamp is None else timestamp
    headers = {
        "HTTP_X_MLFLOW_DELIVERY_ID": delivery_id,
        "HTTP_X_MLFLOW_TIMESTAMP": timestamp,
        "HTTP_X_MLFLOW_SIGNATURE": _generate_hmac_signature(
            secret, delivery_id, timestamp, body
        ),
    }
    return body, headers


def test_signed_delivery_syncs_the_model_and_a_replay_is_ignored(
    client, webhook_secret, model_factory, commits
):
    name = model_factory(versions=1)
    source = registry.version_get(name, 1)
    mlflow_store.client().create_model_version(name, source.source, source.run_id)
    assert not ModelVersion.objects.filter(
        registered_model__name=name, version=2
    ).exists()

    body, headers = _delivery(name)
    with commits():
        first = client.post(
            reverse(URL), body, content_type="application/json", **headers
        )
    assert first.status_code == 200, first.content
    assert first.json()["status"] == "accepted"
    assert ModelVersion.objects.filter(registered_model__name=name, version=2).exists()

    replay = client.post(reverse(URL), body, content_type="application/json", **headers)
    assert replay.status_code == 200
    assert replay.json()["status"] == "duplicate"
    assert WebhookDelivery.objects.count() == 1


def test_bad_signature_is_refused(client, webhook_secret):
    body, headers = _delivery("m", secret="not-the-secret")
    response = client.post(
        reverse(URL), body, content_type="application/json", **headers
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "bad_signature"
    assert not WebhookDelivery.objects.exists()


def test_tampered_body_is_refused(client, webhook_secret):
    body, headers = _delivery("m")
    response = client.post(
        reverse(URL),
        body.replace('"m"', '"other"'),
        content_type="application/json",
        **headers,
    )
    assert response.status_code == 403


def test_stale_timestamp_is_refused(client, webhook_secret):
    body, headers = _delivery("m", timestamp=str(int(time.time()) - 3600))
    response = client.post(
        reverse(URL), body, content_type="application/json", **headers
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "stale_webhook"


def test_missing_headers_and_garbage_are_4xx(client, webhook_secret):
    assert (
        client.post(reverse(URL), "{}", content_type="application/json").status_code
        == 400
    )
    body, headers = _delivery("m")
    headers["HTTP_X_MLFLOW_TIMESTAMP"] = "yesterday"
    assert (
        client.post(
            reverse(URL), body, content_type="application/json", **headers
        ).status_code
        == 400
    )
    garbage = "not json"
    delivery_id, timestamp = str(uuid.uuid4()), str(int(time.time()))
    signature = _generate_hmac_signature(SECRET, delivery_id, timestamp, garbage)
    response = client.post(
        reverse(URL),
        garbage,
        content_type="application/json",
        HTTP_X_MLFLOW_DELIVERY_ID=delivery_id,
        HTTP_X_MLFLOW_TIMESTAMP=timestamp,
        HTTP_X_MLFLOW_SIGNATURE=signature,
    )
    assert response.status_code == 400


def test_webhooks_are_off_without_a_secret(client, db):
    body, headers = _delivery("m")
    response = client.post(
        reverse(URL), body, content_type="application/json", **headers
    )
    assert response.status_code == 404
