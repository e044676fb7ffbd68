"""Redis down while serving: under prediction load the stack's Redis is
stopped, restarted, then frozen (SIGSTOP) and resumed → predictions are still
served and logged (no 5xx, one log row per 2xx), /health/ready reports the
broker down, and report jobs run again once Redis is back, on the same worker
process: a job asked for afterwards, and the job asked for during the outage
(lost with the broker, published again by beat's recovery task)."""

import signal
import time
from collections import Counter

from tests.reliability import drills as h

NUMBER = 10
TITLE = "Redis down while serving"
FAST = False  # minutes of waiting on purpose: `make reliability` runs it


def _broker(ctx) -> str:
    started = time.monotonic()
    response = ctx.request("GET", "/health/ready", timeout=30)
    took = time.monotonic() - started
    try:
        broker = response.json()["checks"]["broker"]["status"]
    except (ValueError, KeyError):
        broker = "?"
    return f"HTTP {response.status}, broker {broker} ({took:.1f}s)"


def run(ctx) -> None:
    ctx.orm()
    from inference.models import PredictionLog
    from monitoring.models import Report
    from tests.inference.live import Load

    monitor = h.make_monitor(ctx, "rel10")
    during, after = h.hour_window(6), h.hour_window(7)
    for seed, (start, end) in enumerate((during, after)):
        h.log_window(ctx, start=start, end=end, rows=300, seed=40 + seed)
    worker_pid = ctx.stack.processes["worker"].pid
    ctx.say(f"web workers warmed up in {h.warm_up(ctx):.0f}s")

    load = Load(ctx.stack.ports.web, ctx.accounts["api_client"].token)
    threads = load.start_background(concurrency=4 if ctx.fast else 8)
    marks = {}
    try:
        time.sleep(3)
        # Redis stopped
        marks["stopped"] = time.monotonic()
        ctx.stack.stop("redis")
        ctx.say("Redis stopped")
        time.sleep(1)
        ready_stopped = _broker(ctx)
        asked = time.monotonic()
        queued = h.report_request(ctx, monitor.pk, *during)
        asked = time.monotonic() - asked
        time.sleep(5)
        ctx.stack.restart("redis")
        marks["restarted"] = time.monotonic()
        ctx.say("Redis restarted (empty: queued messages are gone)")
        time.sleep(4)
        # Redis frozen
        marks["frozen"] = time.monotonic()
        ctx.stack.signal("redis", signal.SIGSTOP)
        ctx.say("Redis frozen (SIGSTOP)")
        time.sleep(2)
        ready_frozen = _broker(ctx)
        time.sleep(6)
        ctx.stack.signal("redis", signal.SIGCONT)
        marks["thawed"] = time.monotonic()
        ctx.say("Redis resumed (SIGCONT)")
        time.sleep(4)
    finally:
        load.stop(threads)
        if ctx.stack.is_running("redis"):
            ctx.stack.signal("redis", signal.SIGCONT)

    results = load.results
    statuses = Counter(r.status for r in results)
    errors = sum(n for status, n in statuses.items() if status >= 500)
    ctx.figure("responses", dict(statuses))
    ctx.figure("5xx or failed connections", errors, errors == 0)

    def in_phase(lo, hi):
        return [r for r in results if r.finished >= lo and r.started <= hi]

    down = in_phase(marks["stopped"], marks["restarted"])
    frozen = in_phase(marks["frozen"], marks["thawed"])
    ctx.figure(
        "2xx while Redis was stopped",
        sum(r.status == 200 for r in down),
        any(r.status == 200 for r in down),
    )
    ctx.figure(
        "2xx while Redis was frozen",
        sum(r.status == 200 for r in frozen),
        any(r.status == 200 for r in frozen),
    )
    slowest = max((r.finished - r.started for r in frozen), default=0.0)
    ctx.figure("max latency while Redis was frozen", f"{slowest * 1000:.0f} ms")
    ok = [r.request_id for r in results if r.status == 200]

    def logged():
        return PredictionLog.objects.filter(request_id__in=ok).count()

    h.quiet(logged, 2, 30)
    rows = logged()
    ctx.figure("log rows = 2xx", f"{rows} = {len(ok)}", rows == len(ok))
    ctx.figure(
        "/health/ready, Redis stopped", ready_stopped, "broker down" in ready_stopped
    )
    ctx.figure(
        "/health/ready, Redis frozen", ready_frozen, "broker down" in ready_frozen
    )
    ctx.figure(
        "report asked for while Redis was stopped",
        f"HTTP {queued.status} in {asked:.1f}s",
        queued.status == 202,
    )
    ctx.figure("/health/ready, Redis back", _broker(ctx), True)

    # the same worker process runs report jobs again
    response = h.report_request(ctx, monitor.pk, *after)
    ctx.expect(response.status == 202, f"report request answered {response.status}")
    fresh = response.json()["id"]
    started = time.monotonic()
    ctx.wait(
        lambda: Report.objects.filter(pk=fresh, status="succeeded").exists(),
        "a report asked for after Redis came back",
        timeout=120,
        interval=0.5,
    )
    ctx.figure(
        "report asked for after Redis came back",
        f"succeeded in {time.monotonic() - started:.1f}s",
    )
    lost = queued.json()["id"]
    ctx.wait(
        lambda: Report.objects.filter(pk=lost, status="succeeded").exists(),
        "the report asked for during the outage (beat's recovery task)",
        timeout=300,
        interval=1,
    )
    waited = time.monotonic() - marks["restarted"]
    ctx.figure(
        "report asked for during the outage",
        f"succeeded {waited:.0f}s after Redis came back",
    )
    same = (
        ctx.stack.is_running("worker")
        and ctx.stack.processes["worker"].pid == worker_pid
    )
    ctx.figure("same worker process throughout", same, same)
