"""Serving a prediction: validate, predict, log in one transaction, answer.

The hot path does no MLflow call and no import: the model comes from the
process's cache, the rows are checked against its signature in pure Python,
the raw estimator predicts, and the log rows (plus the stored response when
the client sent a request id) are written with one ``bulk_create`` in one
transaction, before the response leaves.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.exceptions import ApplicationError, ConflictError
from core.ids import uuid7
from core.metrics import (
    OUTLIER_ROWS,
    PREDICT_ERRORS,
    PREDICT_LATENCY,
    PREDICT_REQUESTS,
    PREDICTED_ROWS,
)
from inference.choices import PredictionSource
from inference.groupcommit import group_committer
from inference.logwriter import LogRow, prediction_logs_insert
from inference.models import PredictionLog, RequestError, StoredResponse
from inference.serving import Predictions, ServedModel, model_cache
from inference.validation import InputError, printable, validate_payload

logger = logging.getLogger(__name__)

MAX_REQUEST_ID_LENGTH = 128


@dataclass
class PredictOutcome:
    """What a predict call produced: the body to send and how it came about."""

    body: dict[str, Any]
    served: ServedModel | None
    replayed: bool = False


def client_scope(client) -> str:
    """The id space of a client's request ids."""
    return f"u{client.pk}" if client is not None and client.pk else "anonymous"


def request_id_check(value: str | None) -> str | None:
    """A usable client request id, None when absent; 400 when malformed."""
    if value is None or value == "":
        return None
    if len(value) > MAX_REQUEST_ID_LENGTH or not value.isprintable():
        raise InputError(
            "X-Request-ID must be printable and at most "
            f"{MAX_REQUEST_ID_LENGTH} characters",
            {"fields": {"X-Request-ID": ["invalid request id"]}},
        )
    return value


def payload_fingerprint(*, name: str, alias: str, version: int | None, payload) -> str:
    canonical = json.dumps(
        [name, alias, version, payload], sort_keys=True, ensure_ascii=True
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def response_body(
    *,
    served: ServedModel,
    alias: str,
    request_id: str,
    prediction_ids: list[uuid.UUID],
    result,
) -> dict[str, Any]:
    rows = []
    for i, pid in enumerate(prediction_ids):
        rows.append(
            {
                "prediction_id": str(pid),
                "label": result.labels[i],
                "probabilities": (
                    result.probabilities[i] if result.probabilities else None
                ),
                "is_outlier": result.outlier_flags[i] if result.outlier_flags else None,
                "outlier_score": (
                    result.outlier_scores[i] if result.outlier_scores else None
                ),
            }
        )
    return {
        "model_name": served.name,
        "model_version": served.version,
        "alias": alias,
        "request_id": request_id,
        "predictions": rows,
    }


def _stored_replay(scope: str, request_id: str, fingerprint: str) -> dict | None:
    stored = (
        StoredResponse.objects.filter(scope=scope, request_id=request_id)
        .values("response")
        .first()
    )
    if stored is None:
        return None
    body = stored["response"]
    if body.get("_fingerprint") not in (None, fingerprint):
        raise ConflictError(
            f"request id {printable(request_id)} was already used for a different "
            "request",
            {"fields": {"X-Request-ID": ["already used with another body"]}},
            code="request_id_reused",
        )
    return {k: v for k, v in body.items() if k != "_fingerprint"}


def prediction_serve(
    *,
    name: str,
    payload: Any,
    client=None,
    alias: str | None = None,
    version: int | None = None,
    source: str = PredictionSource.API,
    request_id: str | None = None,
    scope: str | None = None,
    started: float | None = None,
    on_model=None,
) -> PredictOutcome:
    """Validate ``payload`` against the model's signature, predict, log every
    row and return the response body.

    With ``request_id`` the response is stored under ``(scope, request_id)``;
    a repeat gets the stored body (``replayed``) and nothing is predicted or
    logged again. Raises ``ApplicationError`` subclasses for the client's
    mistakes (nothing logged) and ``ModelUnavailable`` when no copy of the
    model can be loaded.
    """
    started = time.perf_counter() if started is None else started
    served = model_cache().get(name=name, alias=alias, version=version)
    if on_model is not None:
        on_model(served)
    config = settings.INFERENCE
    _fmt, rows = validate_payload(
        payload,
        served.inputs,
        max_rows=config["MAX_ROWS"],
        max_length=config["MAX_STRING_LENGTH"],
    )
    asked_alias = "" if version is not None else (alias or "production")
    scope = scope or client_scope(client)
    logging_on = config["LOG_PREDICTIONS"]
    fingerprint = ""
    if request_id is not None and logging_on:
        fingerprint = payload_fingerprint(
            name=name, alias=asked_alias, version=version, payload=payload
        )
        stored = _stored_replay(scope, request_id, fingerprint)
        if stored is not None:
            return PredictOutcome(stored, served, replayed=True)

    result = served.predict(rows)
    prediction_ids = [uuid7() for _ in rows]
    rid = request_id or uuid.uuid4().hex
    body = response_body(
        served=served,
        alias=asked_alias,
        request_id=rid,
        prediction_ids=prediction_ids,
        result=result,
    )
    elapsed = time.perf_counter() - started
    if logging_on:
        now = timezone.now()
        per_row_ms = elapsed * 1000 / len(rows)
        client_id = client.pk if client is not None and client.pk else None
        logs = [
            LogRow(
                prediction_id=pid,
                model_name=served.name,
                model_version=served.version,
                alias=asked_alias,
                source=source,
                inputs=row,
                prediction=result.labels[i],
                probabilities=result.probabilities[i] if result.probabilities else None,
                outlier_score=(
                    result.outlier_scores[i] if result.outlier_scores else None
                ),
                is_outlier=bool(result.outlier_flags[i])
                if result.outlier_flags
                else False,
                latency_ms=per_row_ms,
                client_id=client_id,
                request_id=rid,
                row_index=i,
                batch_id=None,
                created_at=now,
            )
            for i, (pid, row) in enumerate(zip(prediction_ids, rows, strict=True))
        ]
        stored = None
        if request_id is not None:
            stored = StoredResponse(
                scope=scope,
                request_id=request_id,
                model_name=served.name,
                model_version=served.version,
                response={**body, "_fingerprint": fingerprint},
                created_at=now,
            )
        try:
            # one transaction holding these rows commits before we answer
            group_committer().write(logs, stored)
        except IntegrityError:
            # Two identical requests raced: the other one committed first.
            if request_id is not None:
                stored = _stored_replay(scope, request_id, fingerprint)
                if stored is not None:
                    return PredictOutcome(stored, served, replayed=True)
            raise
    metrics_record(
        served=served,
        source=source,
        rows=len(rows),
        elapsed=elapsed,
        outliers=sum(result.outlier_flags or ()),
    )
    return PredictOutcome(body, served)


def _slice(result, start: int, end: int) -> Predictions:
    return Predictions(
        result.labels[start:end],
        result.probabilities[start:end] if result.probabilities else None,
        result.outlier_scores[start:end] if result.outlier_scores else None,
        result.outlier_flags[start:end] if result.outlier_flags else None,
    )


def prediction_serve_events(
    *,
    name: str,
    events: list[tuple[str, Any]],
    scope: str,
    alias: str | None = None,
    version: int | None = None,
    source: str = PredictionSource.STREAM,
) -> tuple[list[tuple[str, dict, bool]], dict[str, ApplicationError]]:
    """Serve many keyed requests for one model at once (the stream consumer).

    ``events`` are ``(request_id, payload)``. Requests already answered get
    their stored response; invalid ones are returned in ``refused``; the others
    are predicted in one call and logged, with their stored responses, in one
    transaction. Returns ``([(request_id, body, replayed), ...], refused)``.
    Raises ``IntegrityError`` when another consumer stored one of the responses
    meanwhile (then nothing of this call was written).
    """
    started = time.perf_counter()
    served = model_cache().get(name=name, alias=alias, version=version)
    config = settings.INFERENCE
    asked_alias = "" if version is not None else (alias or "production")
    stored = dict(
        StoredResponse.objects.filter(
            scope=scope, request_id__in=[rid for rid, _ in events]
        ).values_list("request_id", "response")
    )
    out: list[tuple[str, dict, bool]] = []
    refused: dict[str, ApplicationError] = {}
    pending: list[tuple[str, list[dict], str]] = []
    for rid, payload in events:
        fingerprint = payload_fingerprint(
            name=name, alias=asked_alias, version=version, payload=payload
        )
        if rid in stored:
            body = stored[rid]
            if body.get("_fingerprint") not in (None, fingerprint):
                refused[rid] = ConflictError(
                    "request id already used for a different request",
                    code="request_id_reused",
                )
                continue
            out.append(
                (rid, {k: v for k, v in body.items() if k != "_fingerprint"}, True)
            )
            continue
        try:
            _fmt, rows = validate_payload(
                payload,
                served.inputs,
                max_rows=config["MAX_ROWS"],
                max_length=config["MAX_STRING_LENGTH"],
            )
        except ApplicationError as exc:
            refused[rid] = exc
            continue
        pending.append((rid, rows, fingerprint))
    if not pending:
        return out, refused

    all_rows = [row for _, rows, _ in pending for row in rows]
    result = served.predict(all_rows)
    elapsed = time.perf_counter() - started
    per_row_ms = elapsed * 1000 / len(all_rows)
    now = timezone.now()
    logs: list[PredictionLog] = []
    responses: list[StoredResponse] = []
    fresh: list[tuple[str, dict, bool]] = []
    offset = 0
    for rid, rows, fingerprint in pending:
        part = _slice(result, offset, offset + len(rows))
        offset += len(rows)
        ids = [uuid7() for _ in rows]
        body = response_body(
            served=served,
            alias=asked_alias,
            request_id=rid,
            prediction_ids=ids,
            result=part,
        )
        for i, (pid, row) in enumerate(zip(ids, rows, strict=True)):
            logs.append(
                PredictionLog(
                    prediction_id=pid,
                    model_name=served.name,
                    model_version=served.version,
                    alias=asked_alias,
                    source=source,
                    inputs=row,
                    prediction=part.labels[i],
                    probabilities=part.probabilities[i] if part.probabilities else None,
                    outlier_score=part.outlier_scores[i]
                    if part.outlier_scores
                    else None,
                    is_outlier=bool(part.outlier_flags[i])
                    if part.outlier_flags
                    else False,
                    latency_ms=per_row_ms,
                    request_id=rid,
                    row_index=i,
                    created_at=now,
                )
            )
        responses.append(
            StoredResponse(
                scope=scope,
                request_id=rid,
                model_name=served.name,
                model_version=served.version,
                response={**body, "_fingerprint": fingerprint},
                created_at=now,
            )
        )
        fresh.append((rid, body, False))
    if config["LOG_PREDICTIONS"]:
        with transaction.atomic():
            prediction_logs_insert(logs)
            StoredResponse.objects.bulk_create(responses)
    metrics_record(
        served=served,
        source=source,
        rows=len(all_rows),
        elapsed=elapsed,
        outliers=sum(result.outlier_flags or ()),
    )
    return out + fresh, refused


def metrics_record(
    *, served: ServedModel, source: str, rows: int, elapsed: float, outliers: int
) -> None:
    version = str(served.version)
    PREDICT_REQUESTS.labels(served.name, version, source, "200").inc()
    PREDICTED_ROWS.labels(served.name, version, source).inc(rows)
    PREDICT_LATENCY.labels(served.name, version).observe(elapsed)
    if outliers:
        OUTLIER_ROWS.labels(served.name, version).inc(outliers)


def request_error_record(
    *,
    model_name: str,
    status_code: int,
    code: str,
    client=None,
    model_version: int | None = None,
    source: str = PredictionSource.API,
) -> None:
    """Record a refused or failed request (its own autocommit write; a failure
    to record is logged, never raised, so the client still gets its answer)."""
    PREDICT_ERRORS.labels(model_name, code).inc()
    PREDICT_REQUESTS.labels(
        model_name, str(model_version or ""), source, str(status_code)
    ).inc()
    if transaction.get_connection().in_atomic_block:
        logger.warning("request error recorded inside a transaction: %s", code)
    try:
        RequestError.objects.create(
            model_name=model_name[:256],
            model_version=model_version,
            source=source,
            status_code=status_code,
            code=code[:64],
            client_id=client.pk if client is not None and client.pk else None,
        )
    except Exception:
        logger.exception(
            "could not record a %s error (%s) of %s", status_code, code, model_name
        )
