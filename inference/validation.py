"""Validation of prediction inputs against a model's signature: pure functions.

A request body may use Modelgate's format (``{"inputs": [{...}, ...]}``) or any
of MLflow's scoring formats (``dataframe_split``, ``dataframe_records``,
``instances``, ``inputs``), so a client of ``mlflow models serve`` can switch by
changing the URL. Every problem is reported with the row and field it concerns
(``inputs[3].age``); nothing is coerced silently: a number sent as a string, a
NaN, an infinity or a null where a value is required is an error.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from core.exceptions import ApplicationError

FORMATS = ("inputs", "dataframe_records", "dataframe_split", "instances")
ALLOWED_TOP_LEVEL = (*FORMATS, "params")
MAX_REPORTED_ERRORS = 50
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
NUMERIC_TYPES = ("double", "float")
INTEGER_TYPES = ("integer", "long")


class InputError(ApplicationError):
    """The request body does not match the model's signature (400)."""

    code = "invalid_input"


@dataclass(frozen=True)
class Field:
    """One input column of a signature."""

    name: str
    type: str = "string"
    required: bool = True


def printable(value: Any, limit: int = 64) -> str:
    """A client-supplied name made safe to echo in an error (no NUL, no lone
    surrogate, bounded length)."""
    text = str(value)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    text = text.replace("\x00", "\\x00")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def check_string(value: str, max_length: int) -> str | None:
    """Why a string cannot be accepted, or None."""
    if len(value) > max_length:
        return f"longer than {max_length} characters ({len(value)})"
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an unpaired surrogate (not valid Unicode)"
    return None


def check_value(value: Any, field: Field, max_length: int) -> str | None:
    """Why ``value`` is not acceptable for ``field``, or None if it is."""
    kind = field.type
    if value is None:
        return "may not be null" if field.required else None
    if kind in NUMERIC_TYPES:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"expected a number, got {_type_name(value)}"
        try:
            number = float(value)
        except OverflowError:
            return "number out of range"
        if not math.isfinite(number):
            return "must be a finite number (no NaN or Infinity)"
        return None
    if kind in INTEGER_TYPES:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and math.isfinite(value):
                return "expected an integer, got a decimal number"
            return f"expected an integer, got {_type_name(value)}"
        low, high = INT32 if kind == "integer" else INT64
        if not low <= value <= high:
            return "integer out of range"
        return None
    if kind == "boolean":
        if not isinstance(value, bool):
            return f"expected true or false, got {_type_name(value)}"
        return None
    # string, and types sent as strings (binary as base64, datetime as ISO text)
    if not isinstance(value, str):
        return f"expected a string, got {_type_name(value)}"
    if kind == "string" and field.required and not value.strip():
        # a blank message has nothing to score: the model would answer with
        # its prior and the log would keep a meaningless row
        return "may not be blank"
    return check_string(value, max_length)


def _records_from_columns(columns: dict, where: str) -> list[dict]:
    lengths = {len(v) if isinstance(v, list) else -1 for v in columns.values()}
    if -1 in lengths or len(lengths) > 1:
        raise InputError(
            f"{where}: in column form every value must be a list of the same length",
            {"fields": {where: ["columns must be lists of equal length"]}},
        )
    n = lengths.pop() if lengths else 0
    names = list(columns)
    return [{name: columns[name][i] for name in names} for i in range(n)]


def extract_rows(payload: Any, fields: Sequence[Field]) -> tuple[str, list[Any]]:
    """Find the rows of a body in one of the accepted formats.

    Returns ``(format name, rows)``; rows are not validated yet.
    """
    if not isinstance(payload, dict):
        raise InputError(
            'the body must be a JSON object such as {"inputs": [{...}]}',
            {"fields": {"non_field_errors": ["expected a JSON object"]}},
        )
    unknown = [k for k in payload if k not in ALLOWED_TOP_LEVEL]
    if unknown:
        raise InputError(
            f"unknown top-level key(s): {', '.join(printable(k) for k in unknown)}",
            {"fields": {printable(k): ["unknown key"] for k in unknown}},
        )
    present = [k for k in FORMATS if k in payload]
    if len(present) != 1:
        message = (
            f"give exactly one of {', '.join(FORMATS)}"
            if present
            else "missing 'inputs' (or one of MLflow's dataframe_split, "
            "dataframe_records, instances)"
        )
        return_fields = {k: [message] for k in present} or {"inputs": [message]}
        raise InputError(message, {"fields": return_fields})
    fmt = present[0]
    body = payload[fmt]
    if fmt == "dataframe_split":
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise InputError(
                'dataframe_split needs {"columns": [...], "data": [[...], ...]}',
                {"fields": {fmt: ["expected an object with columns and data"]}},
            )
        columns = body.get("columns")
        if not isinstance(columns, list) or not all(
            isinstance(c, str) for c in columns
        ):
            raise InputError(
                "dataframe_split.columns must be a list of column names",
                {"fields": {f"{fmt}.columns": ["expected a list of strings"]}},
            )
        unknown_split = [k for k in body if k not in ("columns", "data", "index")]
        if unknown_split:
            raise InputError(
                "unknown key(s) in dataframe_split: "
                + ", ".join(printable(k) for k in unknown_split),
                {
                    "fields": {
                        f"{fmt}.{printable(k)}": ["unknown key"] for k in unknown_split
                    }
                },
            )
        rows: list[Any] = []
        for i, values in enumerate(body["data"]):
            if not isinstance(values, list) or len(values) != len(columns):
                raise InputError(
                    f"{fmt}.data[{i}]: expected a list of {len(columns)} values",
                    {"fields": {f"{fmt}.data[{i}]": ["wrong number of values"]}},
                )
            rows.append(dict(zip(columns, values, strict=True)))
        return fmt, rows
    if isinstance(body, dict):
        return fmt, _records_from_columns(body, fmt)
    if not isinstance(body, list):
        raise InputError(
            f"{fmt} must be a list of rows",
            {"fields": {fmt: [f"expected an array, got {_type_name(body)}"]}},
        )
    if len(fields) == 1 and body and not any(isinstance(r, dict) for r in body):
        # a single-input model may take a plain list of values
        return fmt, [{fields[0].name: value} for value in body]
    return fmt, body


def validate_rows(
    rows: Sequence[Any],
    fields: Sequence[Field],
    *,
    where: str = "inputs",
    max_rows: int,
    max_length: int,
) -> list[dict]:
    """Check every row against the signature; return rows with the signature's
    fields only, or raise ``InputError`` naming each bad row and field."""
    if not rows:
        raise InputError(
            f"{where}: at least one row is needed",
            {"fields": {where: ["empty"]}},
        )
    if len(rows) > max_rows:
        raise InputError(
            f"{where}: {len(rows)} rows, at most {max_rows} per request",
            {"fields": {where: [f"too many rows (limit {max_rows})"]}},
            code="too_many_rows",
        )
    errors: dict[str, list[str]] = {}
    known = {f.name for f in fields}
    clean: list[dict] = []
    for index, row in enumerate(rows):
        prefix = f"{where}[{index}]"
        if not isinstance(row, dict):
            errors[prefix] = [f"expected an object, got {_type_name(row)}"]
            continue
        out = {}
        for field in fields:
            if field.name not in row:
                if field.required:
                    errors[f"{prefix}.{field.name}"] = ["this field is required"]
                else:
                    out[field.name] = None
                continue
            value = row[field.name]
            problem = check_value(value, field, max_length)
            if problem:
                errors[f"{prefix}.{field.name}"] = [problem]
            else:
                out[field.name] = value
        for key in row:
            if key not in known:
                errors[f"{prefix}.{printable(key)}"] = ["unknown field"]
        clean.append(out)
        if len(errors) >= MAX_REPORTED_ERRORS:
            break
    if errors:
        first, problems = next(iter(errors.items()))
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise InputError(f"{first}: {problems[0]}{more}", {"fields": errors})
    return clean


def validate_payload(
    payload: Any, fields: Sequence[Field], *, max_rows: int, max_length: int
) -> tuple[str, list[dict]]:
    """``extract_rows`` then ``validate_rows``: the whole check of a predict body."""
    fmt, rows = extract_rows(payload, fields)
    return fmt, validate_rows(
        rows, fields, where=fmt, max_rows=max_rows, max_length=max_length
    )


def parse_csv_value(text: str | None, field: Field, max_length: int) -> Any:
    """Turn a CSV cell into a typed value for ``field`` (batch scoring).

    Raises ``ValueError`` with the reason when the cell cannot be used.
    """
    if text is None or text == "":
        if field.required:
            raise ValueError(
                "may not be blank" if field.type == "string" else "empty value"
            )
        return "" if field.type == "string" else None
    kind = field.type
    if kind in NUMERIC_TYPES:
        try:
            value: Any = float(text)
        except ValueError:
            raise ValueError(f"not a number: {printable(text, 30)}") from None
    elif kind in INTEGER_TYPES:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"not an integer: {printable(text, 30)}") from None
    elif kind == "boolean":
        lowered = text.strip().lower()
        if lowered not in ("true", "false", "1", "0"):
            raise ValueError(f"not a boolean: {printable(text, 30)}")
        value = lowered in ("true", "1")
    else:
        value = text
    problem = check_value(value, field, max_length)
    if problem:
        raise ValueError(problem)
    return value


def fields_of(specs: Iterable[Any]) -> tuple[Field, ...]:
    """Fields from objects with ``name``, ``type`` and ``required`` attributes."""
    return tuple(Field(s.name, s.type, s.required) for s in specs)
