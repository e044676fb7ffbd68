"""Every endpoint bounded, live: a declared oversized body to every route gets
413 JSON before the body is sent (the server answers without reading it);
batch uploads are capped by size and rows; every login form is throttled,
also under 30 parallel attempts; the stream consumer's streams stay bounded
under 10,000 events, and no event is trimmed before it is acknowledged and
logged."""

from __future__ import annotations

import http.client
import json
import re
import socket
import threading
import time
import urllib.parse
import uuid

from tests.reliability.web import CSRF_INPUT, HTTPS, Browser, multipart

NUMBER = 20
TITLE = "Every endpoint bounded"
FAST = True

LOGIN_FORMS = ("/accounts/login/", "/admin/login/")
PARALLEL = 30
CONVERTERS = {
    "int": "999999",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "str": "x",
    "slug": "x",
    "path": "x",
}


def concrete_paths() -> list[str]:
    """One concrete path per route of the project (regular-expression routes
    of the admin are left out; their views are the admin's, capped alike)."""
    from tests.reliability.authz import routes

    paths = []
    for route in routes():
        if any(c in route.pattern for c in "^$(?\\"):
            continue
        path = re.sub(
            r"<(?:(\w+):)?\w+>",
            lambda m: CONVERTERS.get(m.group(1) or "str", "x"),
            route.pattern,
        )
        paths.append(path if path.startswith("/") else "/" + path)
    return sorted(set(paths))


def declared_only(port: int, path: str, length: int, timeout: float = 5):
    """POST ``path`` declaring ``length`` bytes and sending none of them: a
    server that read the body before answering would time out here."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n"
        "X-Forwarded-Proto: https\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head)
        response = http.client.HTTPResponse(sock)
        try:
            response.begin()
            body = response.read()
        except (TimeoutError, OSError) as exc:
            return None, {}, f"no answer: {type(exc).__name__}".encode()
        return response.status, dict(response.getheaders()), body


def _oversized_bodies(ctx) -> None:
    from django.conf import settings

    from inference.services.batch import upload_body_cap

    cap = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    paths = concrete_paths()
    bad = []
    started = time.monotonic()
    for path in paths:
        size = (
            upload_body_cap() + 1
            if path in ("/api/v1/batch-jobs", "/batch/")
            else 3 * cap
        )
        status, headers, body = declared_only(ctx.stack.ports.web, path, size)
        try:
            error = json.loads(body)["error"]
            ok = status == 413 and error["code"] == "payload_too_large"
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok or not headers.get("Content-Type", "").startswith("application/json"):
            bad.append(f"{path} -> {status} {body[:60]!r}")
            if len(bad) >= 5:  # each may have waited for the timeout
                break
    ctx.say(
        f"{len(paths)} routes, each sent a declared body over its cap and no "
        f"byte of it, in {time.monotonic() - started:.1f}s"
    )
    for line in bad[:10]:
        ctx.say(f"  not refused: {line}")
    ctx.figure("routes without a 413 JSON before the body", len(bad), not bad)
    status, _, body = declared_only(ctx.stack.ports.web, "/api/v1/batch-jobs", 30 << 20)
    ctx.figure("30 MB batch upload declared", status, status == 413)


def _upload_rows(ctx) -> None:
    from django.conf import settings

    from inference.models import BatchJob

    cap = settings.INFERENCE["BATCH_MAX_UPLOAD_ROWS"]
    before = BatchJob.objects.count()
    data = b"message\n" + b"hi\n" * (cap + 1)
    body, content_type = multipart({"model": "sms-spam"}, {"file": ("rows.csv", data)})
    response = ctx.request(
        "POST",
        "/api/v1/batch-jobs",
        role="api_client",
        body=body,
        headers={"Content-Type": content_type},
    )
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.body[:80].decode(errors="replace")
    ctx.say(f"upload of {cap + 1} rows ({len(data) / 1e6:.1f} MB) -> {response.status}")
    ctx.figure(
        f"upload over {cap} rows answered",
        f"{response.status}: {message[:70]}",
        response.status == 400 and f"at most {cap} rows" in message,
    )
    ctx.figure(
        "batch jobs created by refused uploads",
        BatchJob.objects.count() - before,
        BatchJob.objects.count() == before,
    )


def _csrf(ctx, path: str) -> tuple[dict[str, str], str]:
    browser = Browser(ctx)
    page = browser.send("GET", path)
    token = CSRF_INPUT.search(page.body)
    ctx.expect(token is not None, f"{path} has no CSRF form field")
    return dict(browser.cookies), token.group(1).decode()


def _attempt(ctx, path, cookies, token, username, password) -> int:
    body = urllib.parse.urlencode(
        {"username": username, "password": password, "csrfmiddlewaretoken": token}
    ).encode()
    headers = {
        "Host": "127.0.0.1",
        **HTTPS,
        "Content-Type": "application/x-www-form-urlencoded",
        "Origin": "https://127.0.0.1",
        "Referer": f"https://127.0.0.1{path}",
        "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
    }
    conn = http.client.HTTPConnection("127.0.0.1", ctx.stack.ports.web, timeout=60)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _forget_attempts(usernames) -> None:
    """Clear this check's login counters (the address counter would refuse
    every later login from 127.0.0.1 for the rest of the window)."""
    from core.throttling import LoginThrottle

    throttle = LoginThrottle()
    for username in usernames:
        throttle.reset("127.0.0.1", username)


def _login_throttle(ctx) -> None:
    from core.throttling import LoginThrottle

    limit = LoginThrottle().limit
    admin = ctx.accounts["admin"]
    used = [admin.username]
    try:
        for path in LOGIN_FORMS:
            _forget_attempts(used)
            cookies, token = _csrf(ctx, path)
            statuses = []
            lock = threading.Lock()
            barrier = threading.Barrier(PARALLEL)

            def wrong(
                path=path,
                cookies=cookies,
                token=token,
                statuses=statuses,
                lock=lock,
                barrier=barrier,
            ):
                barrier.wait()
                status = _attempt(ctx, path, cookies, token, admin.username, "wrong")
                with lock:
                    statuses.append(status)

            threads = [threading.Thread(target=wrong) for _ in range(PARALLEL)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            checked = statuses.count(200)
            ctx.say(
                f"{path}: {PARALLEL} parallel wrong passwords -> "
                f"{checked} checked (200), {statuses.count(429)} refused (429)"
            )
            ctx.figure(
                f"{path}: password checks among {PARALLEL} parallel attempts "
                f"(limit {limit})",
                checked,
                checked <= limit and statuses.count(429) == PARALLEL - checked,
            )
            right = _attempt(ctx, path, cookies, token, admin.username, admin.password)
            ctx.figure(f"{path}: the right password after them", right, right == 429)
    finally:
        _forget_attempts(used)


STREAM_EVENTS = 10_000
STALLED = 50  # events a consumer takes and never acknowledges


def _streams_bounded(ctx) -> None:
    """``consume_stream`` trimming every 10 ms (no retention) while a
    producer publishes 10,000 events, one in a hundred malformed: the results
    and dead letters never hold more than two reads, and the input ends empty;
    the events a stalled consumer took stay until they are reclaimed, and
    every event is logged or dead-lettered exactly once."""
    import redis

    from inference.models import PredictionLog

    r = redis.Redis.from_url(ctx.stack.redis_url)
    tag = uuid.uuid4().hex[:8]
    names = {
        "input": f"mg-rel:{tag}:in",
        "output": f"mg-rel:{tag}:out",
        "dead": f"mg-rel:{tag}:dead",
    }
    batch = 100
    r.xgroup_create(names["input"], "modelgate", id="0", mkstream=True)
    first = [
        r.xadd(names["input"], {"inputs": json.dumps({"message": f"early {i}"})})
        for i in range(STALLED)
    ]
    taken = r.xreadgroup("modelgate", "stalled", {names["input"]: ">"}, count=STALLED)
    ctx.expect(len(taken[0][1]) == STALLED, "the stalled consumer took its events")
    logged_before = PredictionLog.objects.filter(source="stream").count()
    done = threading.Event()
    peaks = {"input": 0, "output": 0, "dead": 0}
    # samples that found the stalled consumer's first event still pending:
    # (kept in the stream, trimmed from it)
    stalled = {"kept": 0, "trimmed": 0}

    def produce() -> None:
        for start in range(STALLED, STREAM_EVENTS, 500):
            with r.pipeline(transaction=False) as pipe:
                for i in range(start, min(start + 500, STREAM_EVENTS)):
                    event = (
                        {"inputs": "{truncated"}
                        if i % 100 == 0
                        else {"inputs": json.dumps({"message": f"event {i}"})}
                    )
                    pipe.xadd(names["input"], event)
                pipe.execute()
            time.sleep(0.02)

    def watch() -> None:
        while not done.is_set():
            for key, stream in names.items():
                peaks[key] = max(peaks[key], r.xlen(stream))
            # in the stream first, then pending: an acknowledgement is final,
            # so "absent, yet still pending" means trimmed before it
            present = r.xrange(names["input"], min=first[0], max=first[0])
            if r.xpending_range(
                names["input"], "modelgate", min=first[0], max=first[0], count=1
            ):
                stalled["kept" if present else "trimmed"] += 1
            time.sleep(0.01)

    producer = threading.Thread(target=produce)
    watcher = threading.Thread(target=watch)
    producer.start()
    watcher.start()
    try:
        out = ctx.stack.manage(
            "consume_stream",
            "--input", names["input"],
            "--output", names["output"],
            "--dead-letter", names["dead"],
            "--group", "modelgate",
            "--consumer", "rel-consumer",
            "--batch", str(batch),
            "--claim-idle-ms", "3000",
            "--exit-when-idle", "5",
            timeout=600,
            INFERENCE_STREAM_RETENTION_SECONDS="0",
            INFERENCE_STREAM_TRIM_SECONDS="0.01",
        )  # fmt: skip
    finally:
        producer.join(120)
        done.set()
        watcher.join(10)
    found = re.search(r"stopped: (\d+) predicted, (\d+) replayed, (\d+) dead", out)
    predicted, dead = (int(found[1]), int(found[3])) if found else (-1, -1)
    malformed = sum(1 for i in range(STALLED, STREAM_EVENTS) if i % 100 == 0)
    logged = PredictionLog.objects.filter(source="stream").count() - logged_before
    ctx.figure(
        f"stream: {STREAM_EVENTS} events → predicted + dead-lettered",
        f"{predicted} + {dead}",
        (predicted, dead) == (STREAM_EVENTS - malformed, malformed),
    )
    ctx.figure(
        "stream: log rows of the events", logged, logged == STREAM_EVENTS - malformed
    )
    ctx.figure(
        "stream: samples with a stalled event pending (kept, trimmed)",
        f"{stalled['kept']}, {stalled['trimmed']}",
        stalled["kept"] > 0 and stalled["trimmed"] == 0,
    )
    left = {key: r.xlen(stream) for key, stream in names.items()}
    pending = r.xpending(names["input"], "modelgate")["pending"]
    ctx.figure(
        "stream: entries left (input, results, dead letters), pending",
        f"{left['input']}, {left['output']}, {left['dead']}, {pending}",
        list(left.values()) == [0, 0, 0] and pending == 0,
    )
    ctx.figure(
        "stream: peak lengths under traffic (input, results, dead letters)",
        f"{peaks['input']}, {peaks['output']}, {peaks['dead']}",
        peaks["output"] <= 2 * batch and peaks["dead"] <= 2 * batch,
    )
    for stream in names.values():
        r.delete(stream)


def run(ctx) -> None:
    ctx.orm()
    _oversized_bodies(ctx)
    _upload_rows(ctx)
    _login_throttle(ctx)
    _streams_bounded(ctx)
