"""RELIABILITY check 7 beyond predict: the governance and monitoring APIs
answer every malformed body with a 4xx JSON error naming the problem, write
nothing, and log no server error (cases shared with the live check)."""

from __future__ import annotations

import json
import logging

import pytest
from rest_framework.test import APIClient

REQUESTS = "/api/governance/requests/"
ROLLBACK = "/api/governance/models/no-such-model/rollback/"
SNOOZE = "/api/monitoring/alerts/999999/snooze/"

# endpoint → its string field (None: it has none)
TEXT_FIELD = {REQUESTS: "justification", ROLLBACK: "justification", SNOOZE: None}


def _with_text(url: str, raw: str) -> bytes | None:
    field = TEXT_FIELD[url]
    if field is None:
        return None
    return ('{"' + field + '": "' + raw + '"}').encode()


# id, body (bytes, or callable(url) -> bytes | None to skip), content type,
# status, needle
CASES = [
    ("truncated-json", b'{"justification": "x"', "application/json", 400, "malformed"),
    ("wrong-content-type", b'{"a": 1}', "text/plain", 415, "unsupported"),
    (
        "form-content-type",
        b"a=1",
        "application/x-www-form-urlencoded",
        415,
        "unsupported",
    ),
    ("empty-body", b"", "application/json", 400, "required"),
    ("null-body", b"null", "application/json", 400, "no data"),
    ("top-level-array", b"[1, 2]", "application/json", 400, "dictionary"),
    ("nan-literal", b'{"minutes": NaN}', "application/json", 400, "malformed"),
    (
        "infinity-literal",
        b'{"minutes": -Infinity}',
        "application/json",
        400,
        "malformed",
    ),
    (
        "invalid-utf8",
        b'{"justification": "\xff\xfe"}',
        "application/json",
        400,
        "malformed",
    ),
    (
        "deep-nesting",
        b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "application/json",
        400,
        "malformed",
    ),
    (
        "body-3mb",
        json.dumps({"justification": "x" * 3_000_000}).encode(),
        "application/json",
        413,
        "too large",
    ),
    (
        "nul-character",
        lambda url: _with_text(url, "a\\u0000b"),
        "application/json",
        400,
        "null character",
    ),
    (
        "lone-surrogate",
        lambda url: _with_text(url, "a\\ud800b"),
        "application/json",
        400,
        "surrogate",
    ),
    (
        "wrong-type",
        b'{"minutes": "soon", "justification": ["x"], "version": "x"}',
        "application/json",
        400,
        "valid",
    ),
]
URLS = list(TEXT_FIELD)


def body_of(case, url: str) -> bytes | None:
    body = case[1]
    return body(url) if callable(body) else body


@pytest.fixture
def root_api(make_user):
    client = APIClient()
    client.force_authenticate(make_user("root", is_superuser=True, is_staff=True))
    return client


# every case on every endpoint it applies to
MATRIX = [
    (case, url) for case in CASES for url in URLS if body_of(case, url) is not None
]


@pytest.mark.parametrize(
    ("case", "url"), MATRIX, ids=[f"{c[0]}-{u}" for c, u in MATRIX]
)
def test_bad_input_to_governance_and_monitoring_is_a_named_4xx(
    root_api, case, url, caplog
):
    from governance.models import AuditEvent, PromotionRequest

    _, _, content_type, status, needle = case
    body = body_of(case, url)
    caplog.set_level(logging.ERROR)
    before = (PromotionRequest.objects.count(), AuditEvent.objects.count())

    response = root_api.generic("POST", url, body, content_type=content_type)

    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] and error["message"]
    assert needle in json.dumps(error).lower(), error
    assert (PromotionRequest.objects.count(), AuditEvent.objects.count()) == before
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
