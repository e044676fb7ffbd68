"""Pure checks of the signature validation (no database)."""

import pytest

from inference.validation import (
    Field,
    InputError,
    extract_rows,
    parse_csv_value,
    printable,
    validate_payload,
)

FIELDS = (
    Field("text", "string"),
    Field("n", "long"),
    Field("x", "double"),
    Field("ok", "boolean", required=False),
)


def _validate(payload):
    return validate_payload(payload, FIELDS, max_rows=3, max_length=10)


def test_valid_rows_keep_only_signature_fields_and_fill_optional():
    _fmt, rows = _validate({"inputs": [{"text": "hi", "n": 3, "x": 1}]})
    assert rows == [{"text": "hi", "n": 3, "x": 1, "ok": None}]


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        ({"text": "hi", "n": 1.5, "x": 1.0}, "n", "decimal"),
        ({"text": "hi", "n": True, "x": 1.0}, "n", "integer"),
        ({"text": "hi", "n": 2**70, "x": 1.0}, "n", "out of range"),
        ({"text": "hi", "n": 1, "x": float("inf")}, "x", "finite"),
        ({"text": "hi", "n": 1, "x": 10**400}, "x", "out of range"),
        ({"text": "hi", "n": 1, "x": 1.0, "ok": "yes"}, "ok", "true or false"),
        ({"text": "x" * 11, "n": 1, "x": 1.0}, "text", "longer"),
    ],
)
def test_each_bad_value_is_named(row, field, message):
    with pytest.raises(InputError) as caught:
        _validate({"inputs": [row]})
    fields = caught.value.extra["fields"]
    assert message in fields[f"inputs[0].{field}"][0]


def test_all_formats_give_the_same_rows():
    rows = [{"text": "a", "n": 1, "x": 2.0}, {"text": "b", "n": 2, "x": 3.0}]
    split = {"columns": ["text", "n", "x"], "data": [["a", 1, 2.0], ["b", 2, 3.0]]}
    for payload in (
        {"inputs": rows},
        {"dataframe_records": rows},
        {"instances": rows},
        {"dataframe_split": split},
        {"inputs": {"text": ["a", "b"], "n": [1, 2], "x": [2.0, 3.0]}},
    ):
        assert _validate(payload)[1] == [dict(r, ok=None) for r in rows]


def test_two_formats_at_once_or_ragged_columns_are_refused():
    with pytest.raises(InputError):
        extract_rows({"inputs": [], "instances": []}, FIELDS)
    with pytest.raises(InputError):
        extract_rows({"inputs": {"text": ["a"], "n": [1, 2]}}, FIELDS)


def test_csv_cells_are_typed_strictly():
    assert parse_csv_value("3", Field("n", "long"), 10) == 3
    assert parse_csv_value("2.5", Field("x", "double"), 10) == 2.5
    assert parse_csv_value("true", Field("b", "boolean"), 10) is True
    for text, field in [
        ("nan", Field("x", "double")),
        ("1e400", Field("x", "double")),
        ("abc", Field("n", "long")),
        ("", Field("x", "double")),
    ]:
        with pytest.raises(ValueError):  # noqa: PT011 - the message varies by case
            parse_csv_value(text, field, 10)


def test_printable_never_echoes_raw_control_or_surrogates():
    assert printable("a\x00b") == "a\\x00b"
    assert printable("\udc00").encode("utf-8")
    assert len(printable("x" * 500)) == 64
