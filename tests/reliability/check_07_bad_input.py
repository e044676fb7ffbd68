"""Bad input matrix on predict, live: every malformed request gets a 4xx JSON
error naming the problem, adds no prediction log row, and the next valid
request succeeds. The cases are the pytest matrix's
(``tests/inference/test_validation_matrix.py``). The governance and
monitoring APIs get their own matrix (``tests/core/test_bad_input_apis.py``):
4xx JSON naming the problem, no promotion request or audit event written,
the next valid request answered."""

from __future__ import annotations

import json
import uuid

NUMBER = 7
TITLE = "Bad input matrix on predict"
FAST = True

SMS = "/api/v1/models/sms-spam/predict"
TAB = "/api/v1/models/breast-cancer/predict"


def _extra_cases():
    """Cases only a live server can show, beyond the pytest matrix."""
    return [
        # id, url, body, content type, status, needle, extra headers
        (
            "bad-request-id",
            SMS,
            b'{"inputs": [{"message": "x"}]}',
            "application/json",
            400,
            "X-Request-ID",
            {"X-Request-ID": "x" * 200},
        ),
        (
            "no-content-type",
            SMS,
            b'{"inputs": [{"message": "x"}]}',
            None,
            415,
            "unsupported",
            {},
        ),
        (
            "nul-in-key",
            SMS,
            b'{"inputs": [{"message": "a", "m\\u0000": "b"}]}',
            "application/json",
            400,
            "unknown field",
            {},
        ),
    ]


def _valid_body(url: str, fields) -> dict:
    if url == TAB:
        return {"inputs": [{f["name"]: 1.0 for f in fields}]}
    return {"inputs": [{"message": "see you at six"}]}


def _error_of(response):
    try:
        error = response.json()["error"]
        text = json.dumps(error, ensure_ascii=False)
        return error, text, bool(error.get("code")) and bool(error.get("message"))
    except (ValueError, KeyError, TypeError):
        return None, response.body[:120].decode(errors="replace"), False


def _governance_and_monitoring(ctx) -> None:
    from governance.models import PromotionRequest
    from tests.core.test_bad_input_apis import MATRIX, body_of

    def written():
        return PromotionRequest.objects.count()

    ctx.say(f"{len(MATRIX)} bad inputs to the governance and monitoring APIs")
    before = written()
    problems = []
    for case, url in MATRIX:
        name, _, content_type, status, needle = case
        response = ctx.request(
            "POST",
            url,
            role="admin",
            body=body_of(case, url),
            headers={"Content-Type": content_type},
        )
        error, text, named = _error_of(response)
        is_json = response.headers.get("content-type", "").startswith(
            "application/json"
        )
        verdict = []
        if response.status != status:
            verdict.append(f"status {response.status}, expected {status}")
        if not (is_json and named):
            verdict.append("no JSON error with code and message")
        if needle.lower() not in text.lower():
            verdict.append(f"does not name the problem ({needle!r})")
        after = ctx.request("GET", "/api/governance/requests/", role="admin")
        if after.status != 200:
            verdict.append(f"next valid request answered {after.status}")
        if verdict:
            problems.append(name)
            ctx.say(f"{name:<20} {url} -> {response.status}   <-- {'; '.join(verdict)}")
    ctx.figure(
        "governance/monitoring answers not 4xx JSON naming the problem",
        len(problems),
        not problems,
    )
    ctx.figure(
        "promotion requests written by bad inputs",
        written() - before,
        written() == before,
    )


def run(ctx) -> None:
    ctx.orm()
    _governance_and_monitoring(ctx)
    from governance.models import ModelVersion
    from inference.models import PredictionLog
    from tests.inference.test_validation_matrix import CASES

    fields = (
        ModelVersion.objects.filter(registered_model__name="breast-cancer")
        .order_by("-version")
        .first()
        .signature["inputs"]
    )
    from django.contrib.auth import get_user_model

    client = get_user_model().objects.get(username=ctx.accounts["api_client"].username)
    logs = PredictionLog.objects.filter(client=client)
    cases = [(*case, {}) for case in CASES] + _extra_cases()
    ctx.say(f"{len(cases)} bad inputs ({len(CASES)} from the pytest matrix)")
    first = logs.count()
    problems = []
    next_ok = 0
    for name, url, body, content_type, status, needle, headers in cases:
        raw = body(fields) if callable(body) else body
        before = logs.count()
        all_headers = {"X-Request-ID": uuid.uuid4().hex, **headers}
        if content_type:
            all_headers["Content-Type"] = content_type
        response = ctx.request(
            "POST", url, role="api_client", body=raw, headers=all_headers
        )
        added = logs.count() - before
        try:
            error = response.json()["error"]
            text = json.dumps(error, ensure_ascii=False)
            named = bool(error.get("code")) and bool(error.get("message"))
        except (ValueError, KeyError, TypeError):
            error, text, named = (
                None,
                response.body[:120].decode(errors="replace"),
                False,
            )
        is_json = response.headers.get("content-type", "").startswith(
            "application/json"
        )
        verdict = []
        if response.status != status:
            verdict.append(f"status {response.status}, expected {status}")
        if not 400 <= response.status < 500:
            verdict.append("not a 4xx")
        if not (is_json and named):
            verdict.append("no JSON error with code and message")
        if needle.lower() not in text.lower():
            verdict.append(f"does not name the problem ({needle!r})")
        if added:
            verdict.append(f"{added} log rows added")
        # the next valid request succeeds and is logged
        ok = ctx.request(
            "POST",
            url,
            role="api_client",
            body=_valid_body(url, fields),
            headers={"X-Request-ID": uuid.uuid4().hex},
        )
        if ok.status == 200:
            next_ok += 1
        else:
            verdict.append(f"next valid request answered {ok.status}")
        size = f"{len(raw) / 1e6:.1f} MB" if len(raw) > 100_000 else f"{len(raw)} B"
        message = (error or {}).get("message", text)[:70]
        ctx.say(
            f"{name:<22} {size:>8} -> {response.status} "
            f"{(error or {}).get('code', '?')}: {message}"
            + (f"   <-- {'; '.join(verdict)}" if verdict else "")
        )
        if verdict:
            problems.append(name)
    total_added = logs.count() - first
    ctx.figure("bad inputs", len(cases))
    ctx.figure("answers not 4xx JSON naming the problem", len(problems), not problems)
    ctx.figure(
        "log rows added by bad inputs",
        total_added - next_ok,
        total_added - next_ok == 0,
    )
    ctx.figure(
        "valid requests after a bad one that succeeded",
        f"{next_ok}/{len(cases)}",
        next_ok == len(cases),
    )
