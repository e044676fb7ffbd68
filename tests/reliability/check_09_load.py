"""Count equality under load: N predictions at concurrency 16, each with its
own X-Request-ID → no 5xx, exactly one log row per 2xx answer, no request id
logged twice, and every row logged with the version its answer reported.

Then client retries: a sample of the answered requests is sent again with the
same X-Request-ID and body, two copies of each at once → every retry gets the
stored answer (same prediction ids), and not one log row is added."""

from __future__ import annotations

import http.client
import json
import statistics
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

NUMBER = 9
TITLE = "Count equality under load"
FAST = True

CONCURRENCY = 16


def _send(ctx, request_id: str, inputs: dict) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", ctx.stack.ports.web, timeout=30)
    try:
        conn.request(
            "POST",
            "/api/v1/models/sms-spam/predict",
            json.dumps({"inputs": [inputs]}),
            {
                "Content-Type": "application/json",
                "Authorization": f"Token {ctx.accounts['api_client'].token}",
                "X-Request-ID": request_id,
            },
        )
        response = conn.getresponse()
        raw = response.read()
        try:
            return response.status, json.loads(raw)
        except ValueError:
            return response.status, {}
    finally:
        conn.close()


def _retries(ctx, ok, PredictionLog) -> None:
    """Each sampled request twice more, the two copies at the same time."""
    sample = [r for r in ok[:: max(1, len(ok) // (100 if ctx.fast else 500))]]
    ids = [r.request_id for r in sample]
    inputs = dict(
        PredictionLog.objects.filter(request_id__in=ids).values_list(
            "request_id", "inputs"
        )
    )
    before = PredictionLog.objects.filter(request_id__in=ids).count()
    first = {r.request_id: r.body["predictions"][0]["prediction_id"] for r in sample}
    jobs = [(rid, inputs[rid]) for rid in ids if rid in inputs for _ in range(2)]
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        answers = list(pool.map(lambda job: (job[0], *_send(ctx, *job)), jobs))
    statuses = Counter(status for _, status, _ in answers)
    same = sum(
        1
        for rid, status, body in answers
        if status == 200
        and (body.get("predictions") or [{}])[0].get("prediction_id") == first[rid]
    )
    after = PredictionLog.objects.filter(request_id__in=ids).count()
    ctx.say(f"retries: {len(jobs)} ({len(ids)} request ids × 2, pairs at once)")
    ctx.figure("retry answers", dict(sorted(statuses.items())), set(statuses) == {200})
    ctx.figure(
        "retries answered with the stored response",
        f"{same}/{len(jobs)}",
        same == len(jobs) == 2 * len(ids),
    )
    ctx.figure("log rows added by retries", after - before, after == before == len(ids))


def run(ctx) -> None:
    ctx.orm()
    from django.db.models import Count

    from inference.models import PredictionLog
    from tests.inference.live import Load

    total = 2_000 if ctx.fast else 10_000
    load = Load(port=ctx.stack.ports.web, token=ctx.accounts["api_client"].token)
    ctx.say(f"{total} predictions at concurrency {CONCURRENCY}, one request id each")
    started = time.monotonic()
    results = load.run(total, CONCURRENCY)
    seconds = time.monotonic() - started

    statuses = Counter(r.status for r in results)
    ok = [r for r in results if 200 <= r.status < 300]
    latencies = sorted((r.finished - r.started) * 1000 for r in results)
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    ctx.say(f"statuses: {dict(sorted(statuses.items()))}")
    ctx.figure("throughput", f"{len(results) / seconds:.0f} req/s")
    ctx.figure("latency p50 / p99", f"{p50:.1f} ms / {p99:.1f} ms")

    sent_ids = [r.request_id for r in results]
    returned = {r.request_id: r.body.get("model_version") for r in ok}
    rows = list(
        PredictionLog.objects.filter(request_id__in=sent_ids).values_list(
            "request_id", "model_version"
        )
    )
    per_id = Counter(rid for rid, _ in rows)
    duplicates = sum(1 for n in per_id.values() if n > 1)
    logged_without_2xx = sum(1 for rid in per_id if rid not in returned)
    wrong_version = sum(1 for rid, v in rows if returned.get(rid) != v)
    db_duplicates = (
        PredictionLog.objects.filter(request_id__in=sent_ids)
        .values("request_id", "row_index")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .count()
    )
    versions = Counter(v for _, v in rows)

    server_errors = sum(n for s, n in statuses.items() if s >= 500)
    ctx.figure("requests", len(results), len(results) == total)
    ctx.figure("5xx answers", server_errors, server_errors == 0)
    ctx.figure("2xx answers", len(ok))
    ctx.figure("log rows added", len(rows), len(rows) == len(ok))
    ctx.figure(
        "request ids in the log without a 2xx answer",
        logged_without_2xx,
        logged_without_2xx == 0,
    )
    ctx.figure(
        "request ids logged more than once",
        duplicates + db_duplicates,
        duplicates + db_duplicates == 0,
    )
    ctx.figure(
        "unique request ids sent",
        len(set(sent_ids)),
        len(set(sent_ids)) == len(sent_ids),
    )
    ctx.figure(
        "rows whose version differs from the answer", wrong_version, not wrong_version
    )
    ctx.say(f"versions logged: {dict(versions)}")
    _retries(ctx, ok, PredictionLog)
