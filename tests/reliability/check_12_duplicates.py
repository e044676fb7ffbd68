"""Duplicate delivery: the same report job requested three times through the
API and published three more times → one report and one e-mail for that
window; two beats running at once (both tick a per-minute monitor) → one
report and one e-mail per window."""

import time
from collections import Counter
from datetime import timedelta

from tests.reliability import drills as h

NUMBER = 12
TITLE = "Duplicate delivery"
FAST = False  # minutes of waiting on purpose: `make reliability` runs it


def _log_offset(ctx, name: str) -> int:
    path = ctx.stack.logs / f"{name}.log"
    return path.stat().st_size if path.exists() else 0


def _ticks(ctx, name: str, offset: int, task_name: str) -> int:
    path = ctx.stack.logs / f"{name}.log"
    with open(path, "rb") as handle:
        handle.seek(offset)
        text = handle.read().decode("utf-8", "replace")
    return sum(
        1
        for line in text.splitlines()
        if "Sending due task" in line and task_name in line
    )


def _three_deliveries(ctx) -> None:
    from monitoring.models import Report
    from monitoring.tasks import report_run

    monitor = h.make_monitor(ctx, "rel12")
    address = monitor.recipient_list[0]
    start, end = h.hour_window(3)
    h.log_window(ctx, start=start, end=end, rows=600, seed=21)
    responses = [h.report_request(ctx, monitor.pk, start, end) for _ in range(3)]
    answers = [r.status for r in responses]
    ctx.expect(answers[0] == 202, f"the first report request answered {answers[0]}")
    report = Report.objects.get(pk=responses[0].json()["id"])
    for _ in range(3):
        report_run.delay(report.pk)
    ctx.say(
        f"report #{report.pk}: requested 3 times through the API ({answers}), "
        "published 3 more times"
    )
    ctx.wait(
        lambda: (
            Report.objects.filter(pk=report.pk, status="succeeded").exists()
            and h.digests_to(ctx, address)
        ),
        "the report and its e-mail",
        120,
    )
    h.quiet(lambda: (len(h.digests_to(ctx, address)), _state(report.pk)), 5, 60)
    reports = Report.objects.filter(monitor=monitor).count()
    report.refresh_from_db()
    digests = len(h.digests_to(ctx, address))
    ctx.figure("API answers", answers, answers[0] == 202)
    ctx.figure("reports for the window (6 deliveries)", reports, reports == 1)
    ctx.figure("computations (attempts)", report.attempts, report.attempts == 1)
    ctx.figure("e-mails for the window", digests, digests == 1)


def _state(report_id: int):
    from monitoring.models import Report

    return tuple(
        Report.objects.filter(pk=report_id).values_list("status", "attempts").first()
    )


def _two_beats(ctx) -> None:
    from django.utils import timezone

    from monitoring.models import Monitor, Report
    from monitoring.services.monitors import monitor_schedule_sync

    minutes = 3 if ctx.fast else 4
    monitor = h.make_monitor(
        ctx, "rel12-beat", schedule="* * * * *", window_minutes=1, min_rows=20
    )
    address = monitor.recipient_list[0]
    now = timezone.now().replace(second=0, microsecond=0)
    h.log_window(
        ctx,
        start=now - timedelta(minutes=1),
        end=now + timedelta(minutes=minutes + 3),
        rows=(minutes + 4) * 120,
        seed=22,
    )
    task = monitor_schedule_sync(monitor=monitor)
    offsets = {name: _log_offset(ctx, name) for name in ("beat", "beat-2")}
    ctx.stack.start_beat(name="beat-2")
    ctx.say(
        f"monitor {monitor.pk} ticks every minute (1-minute windows); a second "
        "beat started; waiting for "
        f"{minutes} windows"
    )
    began = timezone.now()
    try:
        ctx.wait(
            lambda: (
                Report.objects.filter(
                    monitor=monitor, status="succeeded", created_at__gte=began
                ).count()
                >= minutes
            ),
            f"{minutes} windows reported",
            timeout=60 * (minutes + 2),
            interval=1,
        )
    finally:
        Monitor.objects.filter(pk=monitor.pk).update(enabled=False)
        monitor.refresh_from_db()
        monitor_schedule_sync(monitor=monitor)
        ctx.stack.stop("beat-2")
    h.quiet(lambda: len(h.digests_to(ctx, address)), 6, 90)
    ticks = {name: _ticks(ctx, name, offsets[name], task.name) for name in offsets}
    ctx.figure(
        "monitor ticks sent by beat / beat-2",
        f"{ticks['beat']} / {ticks['beat-2']}",
        ticks["beat"] >= minutes and ticks["beat-2"] >= minutes,
    )
    windows = Counter(
        Report.objects.filter(monitor=monitor).values_list("window_start", "window_end")
    )
    states = Counter(
        Report.objects.filter(monitor=monitor).values_list("status", flat=True)
    )
    digests = Counter(h.digests_to(ctx, address))
    ctx.figure(
        "windows / reports",
        f"{len(windows)} / {sum(windows.values())} ({dict(states)})",
        len(windows) >= minutes and max(windows.values()) == 1,
    )
    succeeded = states.get("succeeded", 0)
    ctx.figure(
        "e-mails per window",
        sorted(Counter(digests.values()).items()),
        len(digests) == succeeded and max(digests.values(), default=0) == 1,
    )


def run(ctx) -> None:
    ctx.orm()
    started = time.monotonic()
    _three_deliveries(ctx)
    ctx.say(f"part 1 done in {time.monotonic() - started:.0f}s")
    _two_beats(ctx)
