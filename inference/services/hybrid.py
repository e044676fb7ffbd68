"""Hybrid serving: rows asked for by entity key, answered from the
precomputed store when it holds a fresh entry of the served version, else
predicted online.

A keyed body is ``{"keyed": [{"key": "c42"}, {"key": "c7", "inputs": {...}},
{"inputs": {...}}]}``. For each item with a key, an entry of the version the
caller is served now (``served_model_get``: the serving rules decide which),
not expired, and computed for the same inputs when inputs are sent (their
hash), answers it with ``source: "precomputed"``; any other item is predicted
online (``source: "online"``), which needs its inputs. The caller
(``inference.services.predict.prediction_serve``) logs every answered row
once, through ``log_rows_build``, with channel ``precomputed`` for the store's
rows and the request's channel for the others.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings

from core.exceptions import ApplicationError
from inference.choices import PredictionSource
from inference.logrows import LogContext, LogRow, log_rows_build
from inference.models import PrecomputedPrediction
from inference.services.precomputed import (
    inputs_hash,
    key_problem,
    precomputed_find,
    precomputed_store,
)
from inference.serving import Predictions, ServedModel
from inference.validation import Field, InputError, printable, validate_rows

logger = logging.getLogger(__name__)

KEYED = "keyed"
PRECOMPUTED = "precomputed"
ONLINE = "online"
ITEM_FIELDS = ("key", "inputs")


class PrecomputedNotFound(ApplicationError):
    status_code = 404
    code = "precomputed_not_found"


class PrecomputedExpired(ApplicationError):
    status_code = 410
    code = "precomputed_expired"


@dataclass(frozen=True, slots=True)
class KeyedItem:
    """One row of a keyed body: its key and/or its validated inputs."""

    key: str | None
    row: dict | None


@dataclass
class KeyedAnswer:
    """Every row of a keyed request answered, in request order."""

    keys: list[str | None]
    #: the inputs of each row: as sent, or the entry's when only a key was
    #: (on PostgreSQL its stored JSON, handed to the log as is:
    #: ``precomputed_find``)
    rows: list[Any]
    result: Predictions
    #: ``precomputed`` or ``online`` per row
    sources: list[str]
    #: when the entry was computed (precomputed rows), else None
    computed_at: list[datetime | None]


def _bad(where: str, message: str, code: str = "invalid_input") -> InputError:
    return InputError(f"{where}: {message}", {"fields": {where: [message]}}, code=code)


def keyed_items_parse(
    payload: Any, fields: Sequence[Field], *, max_rows: int, max_length: int
) -> list[KeyedItem] | None:
    """The items of a keyed body, checked; None when the body is not keyed.
    Raises ``InputError`` naming the item and field (400)."""
    if not isinstance(payload, dict) or KEYED not in payload:
        return None
    others = [k for k in payload if k != KEYED]
    if others:
        raise _bad(printable(others[0]), f"a keyed body has only {KEYED!r}")
    raw = payload[KEYED]
    if not isinstance(raw, list) or not raw:
        raise _bad(KEYED, "expected a non-empty list of {key, inputs} objects")
    if len(raw) > max_rows:
        raise InputError(
            f"{KEYED}: {len(raw)} rows, at most {max_rows} per request",
            {"fields": {KEYED: [f"too many rows (limit {max_rows})"]}},
            code="too_many_rows",
        )
    items = []
    for index, item in enumerate(raw):
        where = f"{KEYED}[{index}]"
        if not isinstance(item, dict):
            raise _bad(where, "expected an object with key and/or inputs")
        unknown = [k for k in item if k not in ITEM_FIELDS]
        if unknown:
            raise _bad(f"{where}.{printable(unknown[0])}", "unknown field")
        if "key" not in item and "inputs" not in item:
            raise _bad(where, "give a key, inputs, or both")
        key = item.get("key")
        if "key" in item:
            problem = key_problem(key)
            if problem:
                raise _bad(f"{where}.key", problem, code="invalid_key")
        row = None
        if "inputs" in item:
            row = validate_rows(
                [item["inputs"]],
                fields,
                where=f"{where}.inputs",
                max_rows=1,
                max_length=max_length,
            )[0]
        items.append(KeyedItem(key, row))
    return items


def _miss_error(
    served: ServedModel, misses: list[tuple[int, str, Any]]
) -> ApplicationError:
    """The answer to keys without a usable entry and without inputs."""
    fields: dict[str, list[str]] = {}
    expired_only = True
    first = ""
    others = _other_versions(served, [key for _, key, entry in misses if not entry])
    for index, key, entry in misses:
        where = f"{KEYED}[{index}]"
        shown = printable(key)
        if entry is not None:
            message = (
                f"the precomputed prediction for key {shown!r} expired at "
                f"{entry.expires_at.isoformat()}; send its inputs to predict it online"
            )
        else:
            expired_only = False
            elsewhere = others.get(key)
            message = (
                f"no precomputed prediction of {served.name} v{served.version} "
                f"for key {shown!r}"
                + (
                    f" (only of v{', v'.join(map(str, elsewhere))}, not served "
                    "to you now)"
                    if elsewhere
                    else ""
                )
                + "; send its inputs to predict it online"
            )
        fields[where] = [message]
        first = first or f"{where}: {message}"
    more = f" (and {len(misses) - 1} more)" if len(misses) > 1 else ""
    error = PrecomputedExpired if expired_only else PrecomputedNotFound
    return error(first + more, {"fields": fields})


def _other_versions(served: ServedModel, keys: list[str]) -> dict[str, list[int]]:
    if not keys:
        return {}
    found: dict[str, list[int]] = {}
    for key, version in (
        PrecomputedPrediction.objects.filter(model_name=served.name, key__in=keys)
        .exclude(model_version=served.version)
        .order_by("model_version")
        .values_list("key", "model_version")
    ):
        found.setdefault(key, []).append(version)
    return found


def keyed_answer(
    *, served: ServedModel, items: list[KeyedItem], now: datetime
) -> KeyedAnswer:
    """Answer every item: from the store where a fresh entry of ``served``
    (for the same inputs, when sent) exists, else online with the model.
    Raises ``PrecomputedNotFound`` (404) or ``PrecomputedExpired`` (410)
    naming every key that has neither a usable entry nor inputs."""
    entries = precomputed_find(
        name=served.name,
        version=served.version,
        keys=[item.key for item in items if item.key is not None],
    )
    n = len(items)
    labels: list[Any] = [None] * n
    probabilities: list[dict | None] = [None] * n
    scores: list[float | None] = [None] * n
    flags: list[bool] = [False] * n
    rows: list[dict | None] = [None] * n
    sources = [ONLINE] * n
    computed: list[datetime | None] = [None] * n
    online: list[int] = []
    misses: list[tuple[int, str, Any]] = []
    for index, item in enumerate(items):
        entry = entries.get(item.key) if item.key is not None else None
        usable = (
            entry is not None
            and entry.expires_at > now
            and (
                item.row is None
                or entry.inputs_hash == inputs_hash(item.row, served.inputs)
            )
        )
        if usable:
            labels[index] = entry.prediction
            probabilities[index] = entry.probabilities
            scores[index] = entry.outlier_score
            flags[index] = entry.is_outlier
            rows[index] = entry.inputs
            sources[index] = PRECOMPUTED
            computed[index] = entry.computed_at
        elif item.row is not None:
            rows[index] = item.row
            online.append(index)
        else:
            misses.append((index, item.key, entry))
    if misses:
        raise _miss_error(served, misses)
    if online:
        predicted = served.predict([rows[i] for i in online])
        for j, index in enumerate(online):
            labels[index] = predicted.labels[j]
            if predicted.probabilities:
                probabilities[index] = predicted.probabilities[j]
            if predicted.outlier_scores:
                scores[index] = predicted.outlier_scores[j]
            if predicted.outlier_flags:
                flags[index] = predicted.outlier_flags[j]
    return KeyedAnswer(
        keys=[item.key for item in items],
        rows=rows,
        result=Predictions(
            labels,
            probabilities if any(p is not None for p in probabilities) else None,
            scores if any(s is not None for s in scores) else None,
            flags,
        ),
        sources=sources,
        computed_at=computed,
    )


def _take(result: Predictions, positions: list[int]) -> Predictions:
    """The predictions of the rows at ``positions``."""
    return Predictions(
        [result.labels[i] for i in positions],
        [result.probabilities[i] for i in positions] if result.probabilities else None,
        [result.outlier_scores[i] for i in positions]
        if result.outlier_scores
        else None,
        [result.outlier_flags[i] for i in positions] if result.outlier_flags else None,
    )


def keyed_body_extend(body: dict, answer: KeyedAnswer) -> None:
    """Add each row's key, source and (precomputed rows) computation time to
    a response body built by ``response_body``."""
    # the entries of one fill job share their computation time
    shown: dict[datetime, str] = {}
    for row, key, source, when in zip(
        body["predictions"],
        answer.keys,
        answer.sources,
        answer.computed_at,
        strict=True,
    ):
        row["key"] = key
        row["source"] = source
        if when is None:
            row["computed_at"] = None
        else:
            text = shown.get(when)
            if text is None:
                text = shown[when] = when.isoformat()
            row["computed_at"] = text


def keyed_log_rows(
    *,
    served: ServedModel,
    answer: KeyedAnswer,
    context: LogContext,
    prediction_ids: Sequence[UUID],
    latency_ms: float,
    created_at: datetime,
) -> list[LogRow]:
    """The log rows of a keyed request: the store's rows with channel
    ``precomputed``, the others with the request's channel; each row keeps
    its position in the request."""
    channels = {PRECOMPUTED: PredictionSource.PRECOMPUTED, ONLINE: context.channel}
    if len(set(answer.sources)) == 1:
        # one source (the common case): the rows as they are, no copies
        return log_rows_build(
            served=served,
            rows=answer.rows,
            result=answer.result,
            context=replace(context, channel=channels[answer.sources[0]]),
            prediction_ids=prediction_ids,
            latency_ms=latency_ms,
            created_at=created_at,
        )
    logs: list[LogRow] = []
    for source, channel in channels.items():
        positions = [i for i, s in enumerate(answer.sources) if s == source]
        if not positions:
            continue
        logs += log_rows_build(
            served=served,
            rows=[answer.rows[i] for i in positions],
            result=_take(answer.result, positions),
            context=replace(context, channel=channel),
            prediction_ids=[prediction_ids[i] for i in positions],
            latency_ms=latency_ms,
            created_at=created_at,
            row_indexes=positions,
        )
    return logs


def keyed_counts(answer: KeyedAnswer, channel: str) -> list[tuple[str, int, int]]:
    """``(log channel, rows, outliers)`` of each source of a keyed request
    (the store's rows: ``precomputed``; the others: ``channel``)."""
    out = []
    for source, logged_as in (
        (PRECOMPUTED, PredictionSource.PRECOMPUTED),
        (ONLINE, channel),
    ):
        flags = [
            flag
            for flag, s in zip(
                answer.result.outlier_flags or [], answer.sources, strict=False
            )
            if s == source
        ]
        rows = answer.sources.count(source)
        if rows:
            out.append((logged_as, rows, sum(flags)))
    return out


def keyed_write_back(
    *, served: ServedModel, answer: KeyedAnswer, computed_at: datetime
) -> None:
    """With ``INFERENCE_PRECOMPUTED_WRITE_BACK``, store the rows predicted
    online that came with a key, so the next request for the key is answered
    from the store. A failure is logged, never raised: the client's answer is
    already logged."""
    if not settings.INFERENCE["PRECOMPUTED_WRITE_BACK"]:
        return
    positions = [
        i
        for i, (key, source) in enumerate(zip(answer.keys, answer.sources, strict=True))
        if source == ONLINE and key is not None
    ]
    if not positions:
        return
    try:
        precomputed_store(
            served=served,
            keys=[answer.keys[i] for i in positions],
            rows=[answer.rows[i] for i in positions],
            result=_take(answer.result, positions),
            computed_at=computed_at,
            ttl=timedelta(seconds=settings.INFERENCE["PRECOMPUTED_TTL_SECONDS"]),
        )
    except Exception:
        logger.exception(
            "could not write %s online rows of %s back to the store",
            len(positions),
            served.name,
        )
