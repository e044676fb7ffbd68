"""Serving a prediction: validate, predict, log in one transaction, answer.

The hot path does no MLflow call and no import: the model comes from the
process's cache (``served_model_get``), the rows are checked against its
signature in pure Python, the raw estimator predicts, and the log rows (from
``inference.logrows``, the one builder of every channel), plus the stored
response when the client sent a request id, are committed before the response
leaves (``inference.groupcommit``).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.exceptions import ApplicationError
from core.ids import uuid7
from core.metrics import (
    OUTLIER_ROWS,
    PREDICT_ERRORS,
    PREDICT_LATENCY,
    PREDICT_REQUESTS,
    PREDICTED_ROWS,
)
from inference.choices import PredictionSource, ServedAs
from inference.groupcommit import group_committer
from inference.logrows import LogContext, LogRow, log_rows_build
from inference.logwriter import prediction_logs_insert
from inference.models import RequestError, StoredResponse
from inference.services.hybrid import (
    keyed_answer,
    keyed_body_extend,
    keyed_counts,
    keyed_items_parse,
    keyed_log_rows,
    keyed_write_back,
)
from inference.services.idempotency import (
    client_scope,
    payload_fingerprint,
    stored_response_build,
    stored_response_get,
    stored_response_replay,
    stored_responses_find,
)
from inference.serving import ServedModel, model_cache
from inference.serving.policy import serving_grant, tests_admit
from inference.validation import validate_payload

logger = logging.getLogger(__name__)


@dataclass
class PredictOutcome:
    """What a predict call produced: the body to send and how it came about."""

    body: dict[str, Any]
    served: ServedModel | None
    replayed: bool = False


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


def alias_asked(*, alias: str | None, version: int | None) -> str:
    """The alias a request asked for, as logged: blank when it named a version."""
    return "" if version is not None else (alias or "production")


class Serving(NamedTuple):
    """The model to answer with, and the rule that allows it (``ServedAs``)."""

    model: ServedModel
    served_as: str


def served_model_get(
    *, name: str, user: Any, alias: str | None = None, version: int | None = None
) -> Serving:
    """The model a caller may be served for an explicit version, else the
    alias (production): the one place every channel resolves a model, under
    the serving rules of ``inference.serving.policy`` (``user`` None: a
    channel without a person, served production only).

    Raises ``AliasNotServed`` (400), ``ServingNotPermitted`` (403),
    ``ModelTestsFailed`` / ``ModelUntested`` (409), ``ModelNotFound`` (404) or
    ``ModelUnavailable`` (503)."""
    grant = serving_grant(user=user, alias=alias, version=version)
    served = model_cache().get(name=name, alias=grant.alias, version=grant.version)
    # judged at load time too; again here so a revoked override takes effect
    # on a version already loaded (a dictionary read for tested versions)
    overridden = tests_admit(name=served.name, version=served.version, tags=served.tags)
    return Serving(served, ServedAs.OVERRIDE if overridden else grant.served_as)


# ------------------------------------------------------------------- serving
def prediction_serve(
    *,
    served: ServedModel,
    served_as: str,
    payload: Any,
    client=None,
    alias: str | None = None,
    version: int | None = None,
    channel: str = PredictionSource.API,
    request_id: str | None = None,
    scope: str | None = None,
    started: float | None = None,
) -> PredictOutcome:
    """Validate ``payload`` against ``served``'s signature, predict, log every
    row and return the response body.

    ``served`` and ``served_as`` come from ``served_model_get`` for the
    ``alias`` or ``version`` the caller asked for (both are logged as asked). With
    ``request_id`` the response is stored under ``(scope, request_id)``; a
    repeat gets the stored body (``replayed``) and nothing is predicted or
    logged again. A keyed body (``inference.services.hybrid``) is answered
    from the precomputed store where it can, online otherwise. Raises
    ``ApplicationError`` subclasses for the client's mistakes (nothing logged).
    """
    started = time.perf_counter() if started is None else started
    config = settings.INFERENCE
    # a keyed body (hybrid serving) names rows by entity key
    items = keyed_items_parse(
        payload,
        served.inputs,
        max_rows=config["MAX_ROWS"],
        max_length=config["MAX_STRING_LENGTH"],
    )
    if items is None:
        _fmt, rows = validate_payload(
            payload,
            served.inputs,
            max_rows=config["MAX_ROWS"],
            max_length=config["MAX_STRING_LENGTH"],
        )
    asked_alias = alias_asked(alias=alias, version=version)
    scope = scope or client_scope(client)
    logging_on = config["LOG_PREDICTIONS"]
    fingerprint = ""
    if request_id is not None and logging_on:
        fingerprint = payload_fingerprint(
            name=served.name, alias=asked_alias, version=version, payload=payload
        )
        stored = stored_response_get(
            scope=scope, request_id=request_id, fingerprint=fingerprint
        )
        if stored is not None:
            return PredictOutcome(stored, served, replayed=True)

    answer = None
    if items is None:
        result = served.predict(rows)
    else:
        answer = keyed_answer(served=served, items=items, now=timezone.now())
        rows, result = answer.rows, answer.result
    prediction_ids = [uuid7() for _ in rows]
    rid = request_id or uuid.uuid4().hex
    body = response_body(
        served=served,
        alias=asked_alias,
        request_id=rid,
        prediction_ids=prediction_ids,
        result=result,
    )
    if answer is not None:
        keyed_body_extend(body, answer)
    elapsed = time.perf_counter() - started
    now = timezone.now()
    if logging_on:
        context = LogContext(
            channel=channel,
            alias=asked_alias,
            client_id=client.pk if client is not None and client.pk else None,
            request_id=rid,
            served_as=served_as,
        )
        latency_ms = elapsed * 1000 / len(rows)
        if answer is None:
            logs = log_rows_build(
                served=served,
                rows=rows,
                result=result,
                context=context,
                prediction_ids=prediction_ids,
                latency_ms=latency_ms,
                created_at=now,
            )
        else:
            logs = keyed_log_rows(
                served=served,
                answer=answer,
                context=context,
                prediction_ids=prediction_ids,
                latency_ms=latency_ms,
                created_at=now,
            )
        stored = None
        if request_id is not None:
            stored = stored_response_build(
                scope=scope,
                request_id=request_id,
                served=served,
                body=body,
                fingerprint=fingerprint,
                created_at=now,
            )
        try:
            # one transaction holding these rows commits before we answer
            group_committer().write(logs, stored)
        except IntegrityError:
            # Two identical requests raced: the other one committed first.
            if request_id is not None:
                stored = stored_response_get(
                    scope=scope, request_id=request_id, fingerprint=fingerprint
                )
                if stored is not None:
                    return PredictOutcome(stored, served, replayed=True)
            raise
    if answer is None:
        metrics_record(
            served=served,
            channel=channel,
            rows=len(rows),
            elapsed=elapsed,
            outliers=sum(result.outlier_flags or ()),
        )
    else:
        keyed_write_back(served=served, answer=answer, computed_at=now)
        for logged_as, count, outliers in keyed_counts(answer, channel):
            metrics_record(
                served=served,
                channel=logged_as,
                rows=count,
                elapsed=elapsed,
                outliers=outliers,
            )
    return PredictOutcome(body, served)


def prediction_serve_events(
    *,
    name: str,
    events: list[tuple[str, Any]],
    scope: str,
    alias: str | None = None,
    version: int | None = None,
    channel: str = PredictionSource.STREAM,
    client=None,
) -> tuple[list[tuple[str, dict, bool]], dict[str, ApplicationError]]:
    """Serve many keyed requests for one model at once (the stream consumer).

    ``events`` are ``(request_id, payload)``. Requests already answered get
    their stored response; invalid ones are returned in ``refused``; the others
    are predicted in one call and logged, with their stored responses, in one
    transaction, under ``client`` (the channel's owner). Returns
    ``([(request_id, body, replayed), ...], refused)``.
    Raises ``IntegrityError`` when another consumer stored one of the responses
    meanwhile (then nothing of this call was written), and the serving rules'
    errors for the whole group, judged for ``client`` (None: no owner,
    production only).
    """
    started = time.perf_counter()
    served, served_as = served_model_get(
        name=name, user=client, alias=alias, version=version
    )
    config = settings.INFERENCE
    asked_alias = alias_asked(alias=alias, version=version)
    context = LogContext(
        channel=channel,
        alias=asked_alias,
        client_id=client.pk if client is not None and client.pk else None,
        served_as=served_as,
    )
    stored = stored_responses_find(scope=scope, request_ids=[rid for rid, _ in events])
    out: list[tuple[str, dict, bool]] = []
    refused: dict[str, ApplicationError] = {}
    pending: list[tuple[str, list[dict], str]] = []
    for rid, payload in events:
        fingerprint = payload_fingerprint(
            name=served.name, alias=asked_alias, version=version, payload=payload
        )
        try:
            if rid in stored:
                replay = stored_response_replay(
                    stored[rid], request_id=rid, fingerprint=fingerprint
                )
                out.append((rid, replay, True))
                continue
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
    logs: list[LogRow] = []
    responses: list[StoredResponse] = []
    fresh: list[tuple[str, dict, bool]] = []
    offset = 0
    for rid, rows, fingerprint in pending:
        part = result.slice(offset, offset + len(rows))
        offset += len(rows)
        ids = [uuid7() for _ in rows]
        body = response_body(
            served=served,
            alias=asked_alias,
            request_id=rid,
            prediction_ids=ids,
            result=part,
        )
        logs += log_rows_build(
            served=served,
            rows=rows,
            result=part,
            context=replace(context, request_id=rid),
            prediction_ids=ids,
            latency_ms=per_row_ms,
            created_at=now,
        )
        responses.append(
            stored_response_build(
                scope=scope,
                request_id=rid,
                served=served,
                body=body,
                fingerprint=fingerprint,
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
        channel=channel,
        rows=len(all_rows),
        elapsed=elapsed,
        outliers=sum(result.outlier_flags or ()),
    )
    return out + fresh, refused


def metrics_record(
    *, served: ServedModel, channel: str, rows: int, elapsed: float, outliers: int
) -> None:
    version = str(served.version)
    PREDICT_REQUESTS.labels(served.name, version, channel, "200").inc()
    PREDICTED_ROWS.labels(served.name, version, channel).inc(rows)
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
    channel: str = PredictionSource.API,
) -> None:
    """Record a refused or failed request (its own autocommit write; a failure
    to record is logged, never raised, so the client still gets its answer)."""
    PREDICT_ERRORS.labels(model_name, code).inc()
    PREDICT_REQUESTS.labels(
        model_name, str(model_version or ""), channel, str(status_code)
    ).inc()
    if transaction.get_connection().in_atomic_block:
        logger.warning("request error recorded inside a transaction: %s", code)
    try:
        RequestError.objects.create(
            model_name=model_name[:256],
            model_version=model_version,
            source=channel,
            status_code=status_code,
            code=code[:64],
            client_id=client.pk if client is not None and client.pk else None,
        )
    except Exception:
        logger.exception(
            "could not record a %s error (%s) of %s", status_code, code, model_name
        )
