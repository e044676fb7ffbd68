"""Serving obeys governance, every channel: as each role, REST predict, a batch
job, the stream consumer, the web try page and the edge refuse what the
serving rules refuse (a version whose tests failed, an untested one, an
unknown alias, @staging or an explicit version without the role), nothing of
a refused version is loaded in a worker; @production moved directly in
MLflow is flagged by the reconciler and the served version does not change.

The check's own model is sms-spam v1 registered again four times (v1 passed,
v2 tests failed, v3 untested, v4 passed), production and staging at v1 set
through governance's recorded path."""

from __future__ import annotations

import json
import re
import time
import uuid

from tests.reliability.web import Browser, multipart

NUMBER = 17
TITLE = "Serving obeys governance, every channel"
FAST = True

PASSED, FAILED, UNTESTED, SPARE = 1, 2, 3, 4
ROLES = ("api_client", "requester", "ops", "admin")
ELEVATED_ROLES = ("requester", "ops", "admin")
BODY = {"inputs": [{"message": "are we still on for tonight?"}]}
# the watcher's poll (5 s by default) a few times over
OUT_OF_BAND_WATCH_SECONDS = 16.0


def _model(ctx) -> str:
    from core import registry
    from governance.services import registered_model_sync
    from governance.services.serving import alias_move_record

    name = f"check17-{uuid.uuid4().hex[:8]}"
    source = registry.version_get("sms-spam", 1)
    base = {k: v for k, v in (source.tags or {}).items() if k != "modelgate.tests"}
    for tests in ("passed", "failed", None, "passed"):
        registry.version_register(
            name=name,
            model_uri=source.source,
            run_id=source.run_id,
            tags={**base, "modelgate.tests": tests} if tests else base,
            description="copy of sms-spam v1 for reliability check 17",
        )
    registered_model_sync(name=name)
    for alias in ("production", "staging"):
        alias_move_record(
            name=name,
            alias=alias,
            version=PASSED,
            actor="reliability",
            reason="check 17 setup",
        )
    return name


def _expected(role: str, query: str) -> tuple[int, str]:
    """(status, error code or served_as) the rules give ``role`` for ``query``."""
    elevated = role in ELEVATED_ROLES
    if query in ("", "?alias=production"):
        return 200, "promoted"
    if query == "?alias=champion":
        return 400, "alias_not_served"
    if not elevated:
        return 403, "serving_not_permitted"
    if query == f"?version={FAILED}":
        return 409, "model_tests_failed"
    if query == f"?version={UNTESTED}":
        return 409, "model_untested"
    return 200, "elevated"


QUERIES = (
    "",
    "?alias=production",
    "?alias=staging",
    f"?version={PASSED}",
    "?alias=champion",
    f"?version={FAILED}",
    f"?version={UNTESTED}",
)


def _rest(ctx, name: str) -> None:
    from inference.models import PredictionLog

    wrong = []
    for role in ROLES:
        for query in QUERIES:
            status, mark = _expected(role, query)
            rid = uuid.uuid4().hex
            answer = ctx.request(
                "POST",
                f"/api/v1/models/{name}/predict{query}",
                role=role,
                body=BODY,
                headers={"X-Request-ID": rid},
            )
            got = answer.status
            if got == 200:
                log = PredictionLog.objects.filter(model_name=name, request_id=rid)
                seen = log.values_list("served_as", flat=True).first()
            else:
                try:
                    seen = answer.json()["error"]["code"]
                except (ValueError, KeyError, TypeError):
                    seen = answer.body[:80]
            if (got, seen) != (status, mark):
                wrong.append(f"{role} {query or '(default)'}: {got} {seen}")
    ctx.figure(
        f"REST answers against the rules ({len(ROLES)} roles x {len(QUERIES)})",
        "; ".join(wrong[:6]) or "all as declared",
        not wrong,
    )


def _batch(ctx, name: str) -> None:
    wrong = []
    cases = [
        ("api_client", {"alias": "staging"}, 403),
        ("api_client", {"version": str(PASSED)}, 403),
        ("requester", {"version": str(FAILED)}, 409),
        ("requester", {"alias": "champion"}, 400),
        ("requester", {"alias": "staging"}, 202),
    ]
    for role, fields, status in cases:
        body, content_type = multipart(
            {"model": name, **fields}, {"file": ("in.csv", b"message\nhi there\n")}
        )
        answer = ctx.request(
            "POST",
            "/api/v1/batch-jobs",
            role=role,
            body=body,
            headers={"Content-Type": content_type},
        )
        if answer.status != status:
            wrong.append(f"{role} {fields}: {answer.status}")
    ctx.figure("batch jobs against the rules", "; ".join(wrong) or "5 of 5", not wrong)


def _stream(ctx, name: str) -> None:
    import redis

    r = redis.Redis.from_url(ctx.stack.redis_url)
    tag = uuid.uuid4().hex[:8]
    streams = {k: f"mg-rel:{tag}:{k}" for k in ("in", "out", "dead")}
    inputs = json.dumps({"message": "hello"})
    r.xadd(streams["in"], {"inputs": inputs, "model": name})
    for extra in (
        {"alias": "staging"},
        {"version": str(PASSED)},
        {"version": str(FAILED)},
        {"alias": "champion"},
    ):
        r.xadd(streams["in"], {"inputs": inputs, "model": name, **extra})
    ctx.stack.manage(
        "consume_stream",
        "--input", streams["in"],
        "--output", streams["out"],
        "--dead-letter", streams["dead"],
        "--group", "modelgate",
        "--consumer", "rel17",
        "--exit-when-idle", "3",
        timeout=300,
    )  # fmt: skip
    served = r.xlen(streams["out"])
    reasons = sorted(
        fields[b"reason"].decode().split(":")[0]
        for _id, fields in r.xrange(streams["dead"])
    )
    expected = sorted(["serving_not_permitted"] * 3 + ["alias_not_served"])
    ctx.figure(
        "stream (no owner): served / dead-lettered",
        f"{served} / {reasons}",
        served == 1 and reasons == expected,
    )
    for stream in streams.values():
        r.delete(stream)


def _try_page_and_edge(ctx, name: str) -> None:
    client = Browser(ctx)
    client.login("api_client")
    page = client.send("GET", f"/models/{name}/try?alias=staging")
    posted = client.send(
        "POST", f"/models/{name}/try?alias=staging", form={"message": "hi"}
    )
    scientist = Browser(ctx)
    scientist.login("requester")
    allowed = scientist.send(
        "POST", f"/models/{name}/try?alias=staging", form={"message": "hi"}
    )
    ctx.figure(
        "try page @staging: API client GET / POST, data scientist POST",
        f"{page.status} / {posted.status}, {allowed.status}",
        (page.status, posted.status, allowed.status) == (403, 403, 200),
    )
    edge = {
        role: ctx.request(
            "GET", f"/api/v1/models/{name}/edge?alias=staging", role=role
        ).status
        for role in ("api_client", "requester")
    }
    ctx.figure(
        "edge export @staging: API client, data scientist",
        f"{edge['api_client']}, {edge['requester']}",
        (edge["api_client"], edge["requester"]) == (403, 200),
    )


def _nothing_refused_loaded(ctx, name: str) -> None:
    """No process logged loading a refused version (the model cache logs
    ``loaded <name> v<n> in <s>s`` once it unpickled one; downloading it, to
    read its tags, is not loading)."""
    loaded = []
    for log in ctx.stack.logs.glob("*.log"):
        text = log.read_text(errors="replace")
        for version in (FAILED, UNTESTED):
            line = rf'"message": "loaded {re.escape(name)} v{version} in '
            if re.search(line, text):
                loaded.append(f"{log.name}: v{version}")
    ctx.figure(
        "refused versions loaded in a worker",
        ", ".join(loaded) or "none",
        not loaded,
    )


def _out_of_band(ctx, name: str) -> None:
    from core import registry
    from governance.models import AuditEvent
    from governance.services.reconcile import registry_model_reconcile

    def served() -> int | None:
        answer = ctx.request(
            "POST", f"/api/v1/models/{name}/predict", role="api_client", body=BODY
        )
        return answer.json().get("model_version") if answer.status == 200 else None

    before = served()
    registry.alias_set(name, "production", SPARE)  # directly in MLflow
    seen = set()
    deadline = time.monotonic() + OUT_OF_BAND_WATCH_SECONDS
    reconciled = False
    while time.monotonic() < deadline:
        seen.add(served())
        if (
            not reconciled
            and time.monotonic() > deadline - OUT_OF_BAND_WATCH_SECONDS / 2
        ):
            registry_model_reconcile(name=name)
            reconciled = True
        time.sleep(0.25)
    flagged = AuditEvent.objects.filter(
        kind="alias_out_of_band", model_name=name, alias="production", version=SPARE
    ).exists()
    ctx.figure(
        f"@production moved to v{SPARE} in MLflow: versions served over "
        f"{OUT_OF_BAND_WATCH_SECONDS:.0f} s",
        sorted(v for v in seen if v is not None) or seen,
        before == PASSED and seen == {PASSED},
    )
    ctx.figure("the move flagged out of band by the reconciler", flagged, flagged)


def run(ctx) -> None:
    ctx.orm()
    name = _model(ctx)
    ctx.say(f"model {name}: v1 passed, v2 failed, v3 untested, v4 passed")
    _rest(ctx, name)
    _batch(ctx, name)
    _stream(ctx, name)
    _try_page_and_edge(ctx, name)
    _nothing_refused_loaded(ctx, name)
    _out_of_band(ctx, name)
