"""The one builder of prediction-log rows: each channel's context gives the
right columns, and the column list is the model's, read once."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime

import pytest

from core.ids import uuid7
from inference.choices import PredictionSource, ServedAs
from inference.logrows import (
    CLIENT_COLUMNS,
    LOG_COLUMNS,
    LogContext,
    LogRow,
    log_rows_build,
)
from inference.models import PredictionLog
from inference.serving import Predictions, ServedModel
from inference.validation import Field

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
BATCH = uuid.UUID("0192f2a0-0000-7000-8000-000000000001")


def served() -> ServedModel:
    return ServedModel(
        name="sms-spam",
        version=3,
        run_id="r",
        inputs=(Field(name="message", type="string", required=True),),
        classes=("ham", "spam"),
        task="classification",
        tags={},
        predictor=None,
        raw=False,
    )


ROWS = [{"message": "a"}, {"message": "b"}, {"message": "c"}]
RESULT = Predictions(
    labels=["ham", "spam", "ham"],
    probabilities=[
        {"ham": 0.9, "spam": 0.1},
        {"ham": 0.2, "spam": 0.8},
        {"ham": 0.7, "spam": 0.3},
    ],
    outlier_scores=[0.1, 0.9, 0.2],
    outlier_flags=[False, True, False],
)

# (context, row indexes given, the columns every row must carry)
CHANNELS = {
    "rest": (
        LogContext(
            channel=PredictionSource.API,
            alias="production",
            client_id=7,
            request_id="order-42",
        ),
        None,
        {"source": "api", "alias": "production", "served_as": "promoted"},
    ),
    "rest by version": (
        LogContext(
            channel=PredictionSource.API,
            alias="",
            client_id=7,
            request_id="x",
            served_as=ServedAs.ELEVATED,
        ),
        None,
        {"source": "api", "alias": "", "client_id": 7, "served_as": "elevated"},
    ),
    "invocations": (
        LogContext(
            channel=PredictionSource.INVOCATIONS,
            alias="production",
            client_id=8,
            request_id="r",
        ),
        None,
        {"source": "invocations", "client_id": 8},
    ),
    "web": (
        LogContext(
            channel=PredictionSource.WEB,
            alias="staging",
            client_id=9,
            request_id="w",
            served_as=ServedAs.OVERRIDE,
        ),
        None,
        {"source": "web", "alias": "staging", "served_as": "override"},
    ),
    "stream": (
        LogContext(
            channel=PredictionSource.STREAM,
            alias="production",
            request_id="1733313600000-0",
        ),
        None,
        {"source": "stream", "client_id": None, "request_id": "1733313600000-0"},
    ),
    "batch": (
        LogContext(
            channel=PredictionSource.BATCH,
            alias="production",
            client_id=5,
            request_id=f"batch:{BATCH}",
            batch_id=BATCH,
        ),
        [10, 12, 13],  # line numbers: line 11 was a bad row
        {"source": "batch", "client_id": 5, "batch_id": BATCH, "latency_ms": 0.0},
    ),
}


@pytest.mark.parametrize("name", list(CHANNELS))
def test_each_channel_context_gives_its_columns(name):
    # given a channel's context
    context, indexes, expected = CHANNELS[name]
    ids = [uuid7() for _ in ROWS]
    latency = expected.get("latency_ms", 1.5)
    # when its rows are built
    rows = log_rows_build(
        served=served(),
        rows=ROWS,
        result=RESULT,
        context=context,
        prediction_ids=ids,
        latency_ms=latency,
        created_at=NOW,
        row_indexes=indexes,
    )
    # then every row carries the context, and each its own prediction
    assert [row.row_index for row in rows] == (indexes or [0, 1, 2])
    for i, row in enumerate(rows):
        assert isinstance(row, LogRow)
        values = row._asdict()
        for column, value in expected.items():
            assert values[column] == value, column
        assert values == {
            "prediction_id": ids[i],
            "model_name": "sms-spam",
            "model_version": 3,
            "alias": context.alias,
            "source": context.channel,
            "served_as": context.served_as,
            "inputs": ROWS[i],
            "prediction": RESULT.labels[i],
            "probabilities": RESULT.probabilities[i],
            "outlier_score": RESULT.outlier_scores[i],
            "is_outlier": RESULT.outlier_flags[i],
            "latency_ms": latency,
            "client_id": context.client_id,
            "request_id": context.request_id,
            "row_index": row.row_index,
            "batch_id": context.batch_id,
            "created_at": NOW,
        }


def test_a_model_without_probabilities_or_detector_logs_nulls():
    rows = log_rows_build(
        served=served(),
        rows=ROWS[:2],
        result=Predictions(["a", "b"], None, None, None),
        context=LogContext(channel=PredictionSource.API),
        prediction_ids=[uuid7(), uuid7()],
        latency_ms=1.0,
        created_at=NOW,
    )
    assert [(r.probabilities, r.outlier_score, r.is_outlier) for r in rows] == [
        (None, None, False),
        (None, None, False),
    ]


def test_rows_and_results_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match="zip"):
        log_rows_build(
            served=served(),
            rows=ROWS,
            result=RESULT.slice(0, 2),
            context=LogContext(channel=PredictionSource.API),
            prediction_ids=[uuid7() for _ in ROWS],
            latency_ms=1.0,
            created_at=NOW,
        )


def test_a_context_cannot_be_changed_once_made():
    context = LogContext(channel=PredictionSource.API, client_id=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        context.client_id = 2


def test_the_column_list_is_the_models_and_everything_takes_it_from_there():
    from inference import logwriter
    from inference.serializers import PredictionSerializer

    columns = tuple(
        f.attname for f in PredictionLog._meta.concrete_fields if not f.primary_key
    )
    assert columns == LOG_COLUMNS
    assert LogRow._fields == columns
    assert tuple(f.attname for f in logwriter._fields()) == columns
    assert tuple(c for c in columns if c != "client_id") == CLIENT_COLUMNS
    assert PredictionSerializer.Meta.fields == [*CLIENT_COLUMNS, "label"]


def test_predictions_slice_keeps_rows_together():
    part = RESULT.slice(1, 3)
    assert part == Predictions(
        ["spam", "ham"], RESULT.probabilities[1:], [0.9, 0.2], [True, False]
    )
    assert Predictions(["a"], None, None, None).slice(0, 1) == Predictions(
        ["a"], None, None, None
    )
