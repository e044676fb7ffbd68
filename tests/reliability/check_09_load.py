"""Count equality under load: N predictions at concurrency 16, each with its
own X-Request-ID → no 5xx, exactly one log row per 2xx answer, no request id
logged twice, and every row logged with the version its answer reported."""

from __future__ import annotations

import statistics
import time
from collections import Counter

NUMBER = 9
TITLE = "Count equality under load"
FAST = True

CONCURRENCY = 16


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
