"""RELIABILITY check 7: every bad input gets a 4xx JSON error naming the
problem, adds no log row, and the next valid request still succeeds."""

import json

import pytest

from inference.models import PredictionLog

SMS = "/api/v1/models/sms-spam/predict"
TAB = "/api/v1/models/breast-cancer/predict"


def _tab_row(fields, **override):
    row = {f["name"]: 1.0 for f in fields}
    row.update(override)
    return row


def _numeric_raw(fields, literal: str) -> bytes:
    """A tabular body whose first field holds a raw JSON token (NaN, 1e400...)."""
    names = [f["name"] for f in fields]
    parts = [f'"{names[0]}": {literal}'] + [f'"{n}": 1.0' for n in names[1:]]
    return ('{"inputs": [{' + ", ".join(parts) + "}]}").encode()


CASES = [
    # id, url, body (bytes | callable(fields) -> bytes), content type, status, needle
    (
        "truncated-json",
        SMS,
        b'{"inputs": [{"message": "hi"',
        "application/json",
        400,
        "malformed",
    ),
    (
        "wrong-content-type",
        SMS,
        b'{"inputs": [{"message": "hi"}]}',
        "text/plain",
        415,
        "unsupported",
    ),
    (
        "form-content-type",
        SMS,
        b"message=hi",
        "application/x-www-form-urlencoded",
        415,
        "unsupported",
    ),
    ("empty-body", SMS, b"", "application/json", 400, "inputs"),
    (
        "top-level-array",
        SMS,
        b'[{"message": "hi"}]',
        "application/json",
        400,
        "JSON object",
    ),
    (
        "unknown-top-level-key",
        SMS,
        b'{"inputs": [{"message": "x"}], "status": "ok"}',
        "application/json",
        400,
        "status",
    ),
    ("no-rows", SMS, b'{"inputs": []}', "application/json", 400, "inputs"),
    (
        "missing-field",
        SMS,
        b'{"inputs": [{}]}',
        "application/json",
        400,
        "inputs[0].message",
    ),
    (
        "unknown-field",
        SMS,
        b'{"inputs": [{"message": "x", "model_version": 9}]}',
        "application/json",
        400,
        "inputs[0].model_version",
    ),
    (
        "wrong-type",
        SMS,
        b'{"inputs": [{"message": 5}]}',
        "application/json",
        400,
        "inputs[0].message",
    ),
    (
        "nested-object",
        SMS,
        b'{"inputs": [{"message": {"a": 1}}]}',
        "application/json",
        400,
        "inputs[0].message",
    ),
    ("null", SMS, b'{"inputs": [{"message": null}]}', "application/json", 400, "null"),
    (
        "second-row-bad",
        SMS,
        b'{"inputs": [{"message": "ok"}, {"message": 1}]}',
        "application/json",
        400,
        "inputs[1].message",
    ),
    (
        "over-long-string",
        SMS,
        json.dumps({"inputs": [{"message": "x" * 5001}]}).encode(),
        "application/json",
        400,
        "longer than",
    ),
    (
        "too-many-rows",
        SMS,
        json.dumps({"inputs": [{"message": "x"}] * 1001}).encode(),
        "application/json",
        400,
        "too many rows",
    ),
    (
        "body-10mb",
        SMS,
        json.dumps({"inputs": [{"message": "x" * 1000}] * 10_000}).encode(),
        "application/json",
        413,
        "too large",
    ),
    (
        "deep-nesting",
        SMS,
        b'{"inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "application/json",
        400,
        "malformed",
    ),
    (
        "nul-character",
        SMS,
        b'{"inputs": [{"message": "a\\u0000b"}]}',
        "application/json",
        400,
        "NUL",
    ),
    (
        "lone-surrogate",
        SMS,
        b'{"inputs": [{"message": "a\\ud800b"}]}',
        "application/json",
        400,
        "surrogate",
    ),
    (
        "lone-surrogate-key",
        SMS,
        b'{"inputs": [{"message": "a", "\\udc00": 1}]}',
        "application/json",
        400,
        "unknown field",
    ),
    (
        "invalid-utf8",
        SMS,
        b'{"inputs": [{"message": "\xff\xfe"}]}',
        "application/json",
        400,
        "malformed",
    ),
    (
        "split-wrong-width",
        SMS,
        b'{"dataframe_split": {"columns": ["message"], "data": [["a", "b"]]}}',
        "application/json",
        400,
        "dataframe_split.data[0]",
    ),
    (
        "nan-literal",
        TAB,
        lambda f: _numeric_raw(f, "NaN"),
        "application/json",
        400,
        "malformed",
    ),
    (
        "infinity-literal",
        TAB,
        lambda f: _numeric_raw(f, "-Infinity"),
        "application/json",
        400,
        "malformed",
    ),
    (
        "huge-number",
        TAB,
        lambda f: _numeric_raw(f, "1e400"),
        "application/json",
        400,
        "finite",
    ),
    (
        "nan-string",
        TAB,
        lambda f: _numeric_raw(f, '"nan"'),
        "application/json",
        400,
        "expected a number",
    ),
    (
        "1e400-string",
        TAB,
        lambda f: _numeric_raw(f, '"1e400"'),
        "application/json",
        400,
        "expected a number",
    ),
    (
        "boolean-for-number",
        TAB,
        lambda f: _numeric_raw(f, "true"),
        "application/json",
        400,
        "expected a number",
    ),
    (
        "huge-integer-literal",
        TAB,
        lambda f: _numeric_raw(f, "9" * 5000),
        "application/json",
        400,
        "malformed",
    ),
]


@pytest.mark.parametrize(
    ("url", "body", "content_type", "status", "needle"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_input_is_refused_without_logging(
    api, served_sms, served_tabular, url, body, content_type, status, needle
):
    from governance.models import ModelVersion

    fields = ModelVersion.objects.get(registered_model__name="breast-cancer").signature[
        "inputs"
    ]
    raw = body(fields) if callable(body) else body
    before = PredictionLog.objects.count()

    response = api.generic("POST", url, raw, content_type=content_type)

    assert response.status_code == status, response.content[:500]
    error = response.json()["error"]
    assert error["code"] and error["message"]
    text = json.dumps(error, ensure_ascii=False)
    assert needle.lower() in text.lower(), text[:500]
    assert PredictionLog.objects.count() == before
    # the next valid request succeeds
    ok = api.post(
        url,
        {"inputs": [_tab_row(fields)] if url == TAB else [{"message": "see you soon"}]},
        format="json",
    )
    assert ok.status_code == 200, ok.content[:300]
    assert PredictionLog.objects.count() == before + 1


def test_bad_request_id_header_is_refused(api, served_sms):
    response = api.post(
        SMS, {"inputs": [{"message": "x"}]}, format="json", HTTP_X_REQUEST_ID="x" * 200
    )
    assert response.status_code == 400
    assert "X-Request-ID" in response.json()["error"]["fields"]
    assert PredictionLog.objects.count() == 0
