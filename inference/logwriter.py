"""Writing prediction-log rows with one prepared multi-row INSERT.

``bulk_create`` compiles its SQL anew for every call; for the one-row insert
of a typical request that compilation costs about a third of the insert. Here
the statement text is built once per row count and the values are prepared by
each field's own ``get_db_prep_save``, so the database sees exactly what the
ORM would send. Must be called inside the caller's transaction.
"""

from __future__ import annotations

from functools import lru_cache

from django.db import connection

from inference.models import PredictionLog

MAX_ROWS_PER_STATEMENT = 500


@lru_cache(maxsize=1)
def _fields():
    return [f for f in PredictionLog._meta.concrete_fields if not f.primary_key]


@lru_cache(maxsize=64)
def _statement(vendor: str, rows: int) -> str:
    quote = connection.ops.quote_name
    fields = _fields()
    columns = ", ".join(quote(f.column) for f in fields)
    one = "(" + ", ".join(["%s"] * len(fields)) + ")"
    # Only model metadata (table and column names) and placeholders go into the
    # text; every value is a bound parameter.
    table = quote(PredictionLog._meta.db_table)
    values = ", ".join([one] * rows)
    return f"INSERT INTO {table} ({columns}) VALUES {values}"  # noqa: S608


COPY_FROM_ROWS = 8


def prediction_logs_insert(logs: list[PredictionLog]) -> None:
    """Insert unsaved ``PredictionLog`` objects (their ids are not read back).

    On PostgreSQL, many rows go through COPY (half the time of a multi-row
    INSERT with thousands of bound parameters).
    """
    fields = _fields()
    if connection.vendor == "postgresql" and len(logs) >= COPY_FROM_ROWS:
        _copy(logs, fields)
        return
    for start in range(0, len(logs), MAX_ROWS_PER_STATEMENT):
        chunk = logs[start : start + MAX_ROWS_PER_STATEMENT]
        params = [
            field.get_db_prep_save(getattr(obj, field.attname), connection)
            for obj in chunk
            for field in fields
        ]
        with connection.cursor() as cursor:
            cursor.execute(_statement(connection.vendor, len(chunk)), params)


def single_statement(rows: int) -> bool:
    """Whether ``prediction_logs_insert`` writes ``rows`` rows in one statement
    (then, in autocommit mode, the statement is its own transaction)."""
    if connection.vendor == "postgresql" and rows >= COPY_FROM_ROWS:
        return True
    return rows <= MAX_ROWS_PER_STATEMENT


def _copy(logs: list[PredictionLog], fields) -> None:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    table = quote(PredictionLog._meta.db_table)
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for obj in logs:
                copy.write_row(
                    [
                        f.get_db_prep_save(getattr(obj, f.attname), connection)
                        for f in fields
                    ]
                )
