"""The prediction log's rows, built in one place for every channel.

Whatever answered a prediction (the REST API, ``/invocations``, the web form,
a batch job, the stream consumer), its log rows come from
``log_rows_build``: the served model, the validated rows, the model's result
and a ``LogContext`` saying through which channel, for whom and under which
request the rows were answered. A new channel adds a ``PredictionSource``
value and, where it needs one, a field to ``LogContext``; it does not build
rows of its own.

The columns are the model's (``LOG_COLUMNS``, read from ``PredictionLog``):
the row tuple, the writer's INSERT and COPY, the API's serializer, the
retention archive and the monitoring reads all take them from here.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from inference.models import PredictionLog

if TYPE_CHECKING:
    from inference.serving import Predictions, ServedModel

#: Every stored column of the log except the primary key, in table order
#: (attribute names: ``client_id``, not ``client``).
LOG_COLUMNS: tuple[str, ...] = tuple(
    f.attname for f in PredictionLog._meta.concrete_fields if not f.primary_key
)
#: The columns a client sees of its own predictions (all but the client).
CLIENT_COLUMNS: tuple[str, ...] = tuple(c for c in LOG_COLUMNS if c != "client_id")

LogRow = namedtuple("LogRow", LOG_COLUMNS)  # noqa: PYI024 - fields come from the model
LogRow.__doc__ = (
    "One PredictionLog row to insert, fields in the table's column order. "
    "A tuple, not a model instance: creating 100 Django model objects costs "
    "more than predicting 100 rows."
)


@dataclass(frozen=True, slots=True)
class LogContext:
    """Through which channel, for whom and under which request rows were
    answered: every part of a log row that the model's result does not give.

    One context serves every row of a request (or of a batch chunk), so it
    costs nothing per row.
    """

    #: ``PredictionSource`` value: the interface that answered (the log's
    #: ``source`` column).
    channel: str
    #: The alias the caller asked for; blank when it named a version.
    alias: str = ""
    #: The authenticated client, or the owner of a batch job or of the
    #: stream consumer (``inference.services.owners``), if any.
    client_id: int | None = None
    #: The request id: the client's ``X-Request-ID``, a generated one, the
    #: stream entry id, or ``batch:<job id>``.
    request_id: str = ""
    #: The batch job that produced the rows, if any.
    batch_id: UUID | None = None
    #: The serving rule that allowed the rows (``ServedAs``: promoted,
    #: elevated, override), from ``inference.serving.policy``.
    served_as: str = "promoted"


def log_rows_build(
    *,
    served: ServedModel,
    rows: Sequence[dict],
    result: Predictions,
    context: LogContext,
    prediction_ids: Sequence[UUID],
    latency_ms: float,
    created_at: datetime,
    row_indexes: Sequence[int] | None = None,
) -> list[LogRow]:
    """The log rows of ``rows`` predicted by ``served`` as ``result``.

    ``prediction_ids`` are the ids returned to the client, one per row;
    ``latency_ms`` is the request's server time divided by its rows;
    ``row_indexes`` are the rows' positions (default: 0, 1, ... in the
    request; a batch job gives the line numbers of its file).
    """
    n = len(rows)
    missing = [None] * n
    # locals, not attribute reads, in the per-row loop
    name, version = served.name, served.version
    alias, channel, client_id = context.alias, context.channel, context.client_id
    request_id, batch_id = context.request_id, context.batch_id
    served_as = context.served_as
    return [
        LogRow(
            prediction_id=pid,
            model_name=name,
            model_version=version,
            alias=alias,
            source=channel,
            served_as=served_as,
            inputs=row,
            prediction=label,
            probabilities=probabilities,
            outlier_score=score,
            is_outlier=flag,
            latency_ms=latency_ms,
            client_id=client_id,
            request_id=request_id,
            row_index=index,
            batch_id=batch_id,
            created_at=created_at,
        )
        for pid, row, label, probabilities, score, flag, index in zip(
            prediction_ids,
            rows,
            result.labels,
            result.probabilities or missing,
            result.outlier_scores or missing,
            result.outlier_flags or [False] * n,
            range(n) if row_indexes is None else row_indexes,
            strict=True,
        )
    ]
