"""The precomputed prediction store of hybrid serving.

A batch job with a key column (``BatchJob.key_column``) scores its rows like
any batch job (``inference.services.batch``) and writes each row's result
here under its entity key instead of logging it: nothing was served yet. A
keyed request (``inference.services.hybrid``) reads the entries of the
version it is served and logs each row it answers, with its source.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import namedtuple
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from uuid import UUID

import orjson
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import JSONField, Q

from inference.logwriter import bound_cursor
from inference.models import PrecomputedPrediction
from inference.validation import NUMERIC_TYPES, Field, check_string

if TYPE_CHECKING:
    from inference.serving import Predictions, ServedModel

logger = logging.getLogger(__name__)

MAX_KEY_LENGTH = 256


def key_problem(value: Any) -> str | None:
    """Why ``value`` cannot be an entity key, or None."""
    if not isinstance(value, str):
        return "a key is a string"
    if not value.strip():
        return "a key may not be blank"
    return check_string(value, MAX_KEY_LENGTH)


def inputs_hash(row: dict, fields: Sequence[Field]) -> str:
    """SHA-256 of a validated row in canonical form: the signature's fields in
    order, numbers of float columns as floats (``1`` sent in JSON and ``1.0``
    read from a CSV are the same input)."""
    canonical = [
        float(row.get(f.name))
        if f.type in NUMERIC_TYPES and row.get(f.name) is not None
        else row.get(f.name)
        for f in fields
    ]
    text = json.dumps(canonical, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def precomputed_store(
    *,
    served: ServedModel,
    keys: Sequence[str],
    rows: Sequence[dict],
    result: Predictions,
    computed_at: datetime,
    ttl: timedelta,
    batch_id: UUID | None = None,
) -> int:
    """Write (or replace) the entries of ``rows`` predicted by ``served`` as
    ``result`` under ``keys``; a key given twice keeps its last row. Returns
    the number of entries written."""
    n = len(rows)
    missing = [None] * n
    latest: dict[str, PrecomputedPrediction] = {}
    for key, row, label, probabilities, score, flag in zip(
        keys,
        rows,
        result.labels,
        result.probabilities or missing,
        result.outlier_scores or missing,
        result.outlier_flags or [False] * n,
        strict=True,
    ):
        latest[key] = PrecomputedPrediction(
            model_name=served.name,
            model_version=served.version,
            key=key,
            inputs=row,
            inputs_hash=inputs_hash(row, served.inputs),
            prediction=label,
            probabilities=probabilities,
            outlier_score=score,
            is_outlier=bool(flag),
            batch_id=batch_id,
            computed_at=computed_at,
            expires_at=computed_at + ttl,
        )
    PrecomputedPrediction.objects.bulk_create(
        list(latest.values()),
        update_conflicts=True,
        unique_fields=["model_name", "model_version", "key"],
        update_fields=[
            "inputs",
            "inputs_hash",
            "prediction",
            "probabilities",
            "outlier_score",
            "is_outlier",
            "batch_id",
            "computed_at",
            "expires_at",
        ],
    )
    return len(latest)


#: The columns a lookup reads (all but the ids and the job).
LOOKUP_FIELDS = (
    "key",
    "inputs",
    "inputs_hash",
    "prediction",
    "probabilities",
    "outlier_score",
    "is_outlier",
    "computed_at",
    "expires_at",
)
#: One entry as a lookup returns it.
PrecomputedEntry = namedtuple("PrecomputedEntry", LOOKUP_FIELDS)  # noqa: PYI024


def precomputed_find(
    *, name: str, version: int, keys: Iterable[str]
) -> dict[str, PrecomputedEntry]:
    """The entries of ``keys`` computed by ``name`` v``version`` (expired
    ones included: the caller tells a missing entry from an expired one), by
    key, as ``PrecomputedEntry`` tuples (not model instances: a 100-key
    request should not build 100 Django objects).

    On PostgreSQL the entry's ``inputs`` is the stored JSON itself
    (``orjson.Fragment``): a lookup only hands them on to the prediction log,
    whose writer sends them as they are instead of decoding and re-encoding
    them; elsewhere it is the decoded row."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    conn = connections[DEFAULT_DB_ALIAS]
    if conn.vendor != "postgresql":
        return {
            entry[0]: PrecomputedEntry(*entry)
            for entry in PrecomputedPrediction.objects.filter(
                model_name=name, model_version=version, key__in=wanted
            ).values_list(*LOOKUP_FIELDS)
        }
    # One statement with the keys as one array parameter, bound server-side
    # and answered in binary: the ORM's query (100 quoted literals rendered
    # client-side, every value parsed from text, each JSON column decoded by
    # the standard library) took 2.3 ms of the worker for 100 keys, this
    # 0.4 ms; the unique (model, version, key) index serves it either way.
    with bound_cursor(conn) as raw:
        raw.execute(_lookup_statement(), [name, version, wanted], binary=True)
        found = raw.fetchall()
    Fragment, loads = orjson.Fragment, _json_loads
    return {
        key: PrecomputedEntry(
            key,
            Fragment(inputs),
            hashed,
            loads(prediction),
            None if probabilities is None else loads(probabilities),
            score,
            flag,
            computed_at,
            expires_at,
        )
        for (
            key,
            inputs,
            hashed,
            prediction,
            probabilities,
            score,
            flag,
            computed_at,
            expires_at,
        ) in found
    }


@lru_cache(maxsize=1)
def _lookup_statement() -> str:
    """The lookup's SELECT (PostgreSQL): JSON columns read as their text.
    Only model metadata goes into the statement; every value is bound."""
    meta = PrecomputedPrediction._meta
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name

    def column(name: str) -> str:
        field = meta.get_field(name)
        text = "::text" if isinstance(field, JSONField) else ""
        return quote(field.column) + text

    columns = ", ".join(column(name) for name in LOOKUP_FIELDS)
    return (
        f"SELECT {columns} FROM {quote(meta.db_table)} "  # noqa: S608
        f"WHERE {column('model_name')} = %s AND {column('model_version')} = %s "
        f"AND {column('key')} = ANY(%s)"
    )


def _json_loads(text: str):
    """A stored label or probabilities, decoded. orjson (7x the standard
    library's speed here) reads every value the store writes exactly (model
    labels and float probabilities); the standard library takes what it
    refuses."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def precomputed_prune(*, now: datetime, keep_expired: timedelta) -> int:
    """Delete the entries expired more than ``keep_expired`` before ``now``."""
    deleted, _ = PrecomputedPrediction.objects.filter(
        Q(expires_at__lt=now - keep_expired)
    ).delete()
    if deleted:
        logger.info("deleted %s expired precomputed predictions", deleted)
    return deleted
