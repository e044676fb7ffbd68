"""Writing prediction-log rows with one statement.

The channels build ``LogRow`` tuples (``inference.logrows``; not model
instances: creating 100 Django model objects and running every field's
``get_db_prep_save`` costs more than predicting 100 rows) and this module
sends them in one statement: a multi-row INSERT whose text is built once per
row count, or COPY on PostgreSQL for many rows. On PostgreSQL, JSON columns
are sent as JSON text (orjson, several times faster than ``json.dumps``) and
UUIDs and aware datetimes as they are (psycopg's own ``Jsonb`` wrapper costs
a third of a 100-row COPY); on other databases each field's own
``get_db_prep_save`` prepares them. Must be called inside the caller's
transaction (or as its own single statement).

The COPY is binary: psycopg's C dumpers write UUIDs, numbers and timestamps
as PostgreSQL stores them, and the server parses none of them from text. A
100-row COPY: 0.41 ms of the worker's CPU and 1.4 ms until committed,
against 0.62 and 1.7 ms in text format (medians in one process).

On PostgreSQL the INSERT goes through a server-side binding cursor on the
thread's connection: Django's default psycopg cursor renders every value into
the SQL text in Python (``ClientCursor``), which cost more than half of the
insert's time on the serving path; with server-side binding psycopg's C
dumpers send the values as parameters. Errors are still Django's
(``IntegrityError``, ``DatabaseError``), as from any other query.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import psycopg
from django.db import DEFAULT_DB_ALIAS, connection, connections
from psycopg.types.json import set_json_dumps

from core.renderers import json_bytes, json_text
from inference.logrows import LOG_COLUMNS, LogRow
from inference.models import PredictionLog

MAX_ROWS_PER_STATEMENT = 500
COPY_FROM_ROWS = 8


@lru_cache(maxsize=1)
def _fields():
    """The model's fields of ``LOG_COLUMNS``, in that order."""
    by_name = {f.attname: f for f in PredictionLog._meta.concrete_fields}
    return [by_name[name] for name in LOG_COLUMNS]


@lru_cache(maxsize=1)
def _json_positions() -> tuple[int, ...]:
    from django.db.models import JSONField

    return tuple(i for i, f in enumerate(_fields()) if isinstance(f, JSONField))


@lru_cache(maxsize=1)
def _target() -> tuple[str, str]:
    """The quoted table name and its column list, for the INSERT and the COPY.
    Only model metadata goes into statement text; every value is bound."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in _fields())
    return quote(PredictionLog._meta.db_table), columns


@lru_cache(maxsize=64)
def _statement(vendor: str, rows: int) -> str:
    table, columns = _target()
    one = "(" + ", ".join(["%s"] * len(_fields())) + ")"
    values = ", ".join([one] * rows)
    return f"INSERT INTO {table} ({columns}) VALUES {values}"  # noqa: S608


def as_row(log: PredictionLog | LogRow) -> LogRow:
    """A ``LogRow`` from an unsaved ``PredictionLog`` (or the row itself)."""
    if isinstance(log, LogRow):
        return log
    return LogRow(*(getattr(log, f.attname) for f in _fields()))


def _adapter(conn) -> Any:
    """A function ``LogRow -> list of values`` for this database."""
    if conn.vendor == "postgresql":
        positions = _json_positions()
        dumps = json_text

        def adapt(row: LogRow) -> list:
            values = list(row)
            for i in positions:
                if values[i] is not None:
                    values[i] = dumps(values[i])
            return values

        return adapt
    fields = _fields()

    def adapt_generic(row: LogRow) -> list:
        return [
            field.get_db_prep_save(value, conn)
            for field, value in zip(fields, row, strict=True)
        ]

    return adapt_generic


def prediction_logs_insert(logs: Sequence[PredictionLog | LogRow]) -> None:
    """Insert prediction-log rows (their ids are not read back).

    On PostgreSQL, many rows go through COPY (half the time of a multi-row
    INSERT with thousands of bound parameters).
    """
    conn = connections[DEFAULT_DB_ALIAS]  # resolve the thread's connection once
    if conn.vendor == "postgresql" and len(logs) >= COPY_FROM_ROWS:
        _copy(conn, [as_row(log) for log in logs])
        return
    adapt = _adapter(conn)
    rows = [adapt(as_row(log)) for log in logs]
    for start in range(0, len(rows), MAX_ROWS_PER_STATEMENT):
        chunk = rows[start : start + MAX_ROWS_PER_STATEMENT]
        params = [value for row in chunk for value in row]
        statement = _statement(conn.vendor, len(chunk))
        if conn.vendor == "postgresql":
            with bound_cursor(conn) as raw:
                raw.execute(statement, params, prepare=False)
        else:
            with conn.cursor() as cursor:
                cursor.execute(statement, params)


@contextmanager
def bound_cursor(conn) -> Iterator[psycopg.Cursor]:
    """A server-side binding psycopg cursor on the thread's connection, with
    the steps of Django's ``cursor()`` (health check, connection, thread
    check) but not its client-side cursor and wrapper, which this write never
    used (about 0.1 ms of a one-row request's 1.4 ms of CPU, A/B in one
    process); errors are Django's."""
    conn.close_if_health_check_failed()
    conn.ensure_connection()
    conn.validate_thread_sharing()
    with conn.wrap_database_errors, psycopg.Cursor(conn.connection) as raw:
        yield raw


def single_statement(rows: int) -> bool:
    """Whether ``prediction_logs_insert`` writes ``rows`` rows in one statement
    (then, in autocommit mode, the statement is its own transaction)."""
    if connection.vendor == "postgresql" and rows >= COPY_FROM_ROWS:
        return True
    return rows <= MAX_ROWS_PER_STATEMENT


@lru_cache(maxsize=1)
def _copy_statement() -> tuple[str, tuple[str, ...]]:
    """The binary COPY statement (PostgreSQL) and the type names of its
    columns for psycopg's dumpers (``varchar(256)`` → ``varchar``)."""
    table, columns = _target()
    types = tuple(f.db_type(connection).split("(")[0] for f in _fields())
    return f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)", types


def _copy(conn, rows: list[LogRow]) -> None:
    statement, types = _copy_statement()
    with bound_cursor(conn) as raw:
        set_json_dumps(json_bytes, context=raw)  # this cursor's jsonb dumper
        with raw.copy(statement) as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)
