"""Against a real ``mlflow server`` subprocess (port 5121, SQLite backend):

- RELIABILITY check 13: MLflow stopped during apply → apply_failed with a clear
  message and the alias unchanged; when MLflow returns the reconciler applies
  the request exactly once (one ``applied`` event).
- MLflow's own webhook delivery (HMAC-signed) reaches Modelgate's endpoint and
  the new version appears in the mirror without waiting for the reconciler.
"""

from __future__ import annotations

import io
import time

import pandas as pd
import pytest
from django.core import mail
from django.core.management import call_command

from core import registry
from core.registry import mlflow_store
from governance.choices import AuditKind, RequestStatus
from governance.models import AuditEvent, ModelVersion, WebhookDelivery
from governance.services import registered_model_sync
from governance.services.approvals import promotion_approve
from governance.services.audit import audit_verify
from governance.services.requests import promotion_request_create
from governance.tasks import registry_reconcile

pytestmark = [pytest.mark.slow]


@pytest.fixture
def on_server(settings, mlflow_server, monkeypatch):
    """Point Modelgate at the MLflow server for this test."""
    if mlflow_server.process is None:
        mlflow_server.start()
    settings.MLFLOW_TRACKING_URI = mlflow_server.url
    settings.MLFLOW_REGISTRY_URI = mlflow_server.url
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    return mlflow_server


def _register(name: str) -> int:
    """Log a small scikit-learn model with metrics to the server and register it,
    as the trainer does (passing tests, same held-out fingerprint)."""
    from sklearn.linear_model import LogisticRegression

    frame = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0] * 5, "b": [1.0, 0.0, 1.0, 0.0] * 5})
    labels = [0, 1, 0, 1] * 5
    model = LogisticRegression().fit(frame, labels)
    tags = {"modelgate.tests": "passed", "modelgate.data_sha256": "c" * 64}
    with registry.tracking_run(experiment="outage", run_name=name) as run:
        run.log_metrics({"mcc": 0.95})
        run.log_params(
            {"split.test_size": 0.2, "split.random_state": 1, "split.stratify": True}
        )
        uri = run.log_sklearn_model(
            model,
            input_sample=frame,
            output_sample=model.predict(frame),
            input_example=frame.head(2),
            serialization_format="cloudpickle",
            pip_requirements=["scikit-learn"],
        )
        version = registry.version_register(
            name=name, model_uri=uri, run_id=run.run_id, tags=tags
        )
    return version.version


@pytest.mark.django_db
def test_mlflow_down_during_apply_then_back(
    on_server, people, commits, no_staging_wait
):
    name = f"outage-{int(time.time() * 1000)}"
    version = _register(name)
    registered_model_sync(name=name)
    with commits():
        request = promotion_request_create(
            user=people.alice,
            model_name=name,
            version=version,
            target="staging",
            justification="outage drill",
        )
    request.refresh_from_db()
    assert request.checks_status == "passed", request.evidence

    # MLflow goes away; the approval's apply fails cleanly
    on_server.stop()
    mail.outbox.clear()
    with commits():
        promotion_approve(request_id=request.pk, user=people.bob)
    request.refresh_from_db()
    assert request.status == RequestStatus.APPLY_FAILED
    assert "Connection" in request.apply_error or "connect" in request.apply_error
    assert (
        AuditEvent.objects.filter(
            request_ref=request.pk, kind=AuditKind.APPLY_FAILED
        ).count()
        == 1
    )
    assert any("Apply FAILED" in m.subject for m in mail.outbox)
    # the reconciler cannot do anything while MLflow is down
    assert registry_reconcile() == 0
    request.refresh_from_db()
    assert request.status == RequestStatus.APPLY_FAILED

    # MLflow is back: the alias never moved
    on_server.start()
    assert "staging" not in registry.model_get(name).aliases

    # the reconciler applies it, once
    with commits():
        registry_reconcile()
        registry_reconcile()
    request.refresh_from_db()
    assert request.status == RequestStatus.APPLIED
    assert request.apply_attempts == 2
    assert mlflow_store.client().get_registered_model(name).aliases == {
        "staging": str(version)
    }
    applied = AuditEvent.objects.filter(request_ref=request.pk, kind=AuditKind.APPLIED)
    assert applied.count() == 1
    assert applied.get().version == version
    assert audit_verify().ok


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("governance_defaults")
def test_mlflow_webhook_delivery_syncs_the_mirror(on_server, settings, gov_live_server):
    secret = "webhook-secret-for-tests"
    settings.GOVERNANCE = {**settings.GOVERNANCE, "WEBHOOK_SECRET": secret}
    settings.SITE_URL = gov_live_server.url
    out = io.StringIO()
    call_command("mlflow_webhook_setup", name="modelgate-test", stdout=out)
    assert "created" in out.getvalue()
    call_command("mlflow_webhook_setup", name="modelgate-test", stdout=out)  # again
    assert "updated" in out.getvalue()
    hooks = [
        h for h in mlflow_store.client().list_webhooks() if h.name == "modelgate-test"
    ]
    assert len(hooks) == 1
    hook = hooks[0]
    try:
        name = f"hooked-{int(time.time() * 1000)}"
        version = _register(name)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if ModelVersion.objects.filter(
                registered_model__name=name, version=version
            ).exists():
                break
            time.sleep(0.3)
        # MLflow delivers asynchronously: let the deliveries of this model
        # settle (the version and its tags) before looking at them
        seen, quiet_since = -1, time.monotonic()
        while time.monotonic() - quiet_since < 1.5 and time.monotonic() < deadline:
            count = WebhookDelivery.objects.filter(model_name=name).count()
            if count != seen:
                seen, quiet_since = count, time.monotonic()
            time.sleep(0.2)
        kinds = set(
            WebhookDelivery.objects.filter(model_name=name).values_list(
                "entity", "action"
            )
        )
        assert ("model_version", "created") in kinds
        assert ModelVersion.objects.filter(
            registered_model__name=name, version=version
        ).exists()
    finally:
        mlflow_store.client().delete_webhook(hook.webhook_id)
        # MLflow keeps its webhook connections open; stop it while the live
        # server still runs so those connections end cleanly
        on_server.stop()
