"""Management commands and the selectors monitoring uses."""

import gzip
import json
from datetime import timedelta
from io import StringIO

from django.core.management import call_command
from django.utils import timezone
from rest_framework.authtoken.models import Token

from inference.models import Feedback, PredictionLog, RequestError
from inference.selectors import request_error_counts


def test_create_api_token_creates_user_role_and_token(db):
    out = StringIO()
    call_command(
        "create_api_token", "svc", "--create", "--role", "api_clients", stdout=out
    )
    token = Token.objects.get(user__username="svc")
    assert out.getvalue().strip() == token.key
    assert token.user.groups.filter(name="api_clients").exists()
    again = StringIO()
    call_command("create_api_token", "svc", "--rotate", stdout=again)
    assert again.getvalue().strip() != token.key


def test_prune_predictions_archives_then_deletes_old_rows(db, settings):
    old = timezone.now() - timedelta(days=40)
    rows = [
        PredictionLog(
            model_name="m",
            model_version=1,
            inputs={"a": i},
            prediction="x",
            latency_ms=1.0,
            created_at=old,
        )
        for i in range(7)
    ]
    rows.append(
        PredictionLog(
            model_name="m", model_version=1, inputs={}, prediction="y", latency_ms=1.0
        )
    )
    PredictionLog.objects.bulk_create(rows)
    Feedback.objects.create(prediction=PredictionLog.objects.first(), label="x")
    call_command(
        "prune_predictions",
        "--days",
        "30",
        "--archive",
        "--batch-size",
        "3",
        stdout=StringIO(),
    )
    assert list(PredictionLog.objects.values_list("prediction", flat=True)) == ["y"]
    archives = list(settings.INFERENCE["RETENTION_ARCHIVE_DIR"].glob("*.jsonl.gz"))
    with gzip.open(archives[-1], "rt") as handle:
        lines = handle.read().splitlines()
    assert len(lines) == 7 and json.loads(lines[0])["model_name"] == "m"


def test_request_error_counts(db):
    now = timezone.now()
    for status, code in [
        (400, "invalid_input"),
        (400, "invalid_input"),
        (404, "model_not_found"),
    ]:
        RequestError.objects.create(model_name="m", status_code=status, code=code)
    RequestError.objects.create(
        model_name="m", model_version=2, status_code=400, code="invalid_input"
    )
    RequestError.objects.create(model_name="other", status_code=400, code="x")
    counts = request_error_counts(
        model_name="m", start=now - timedelta(minutes=1), end=now + timedelta(minutes=1)
    )
    assert counts == {
        "total": 4,
        "by_status": {400: 3, 404: 1},
        "by_code": {"invalid_input": 3, "model_not_found": 1},
        "by_version": {0: 3, 2: 1},
    }
