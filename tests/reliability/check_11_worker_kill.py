"""Worker killed mid-job: ``kill -9`` of the Celery worker while it computes a
drift report → after the restart the job completes by redelivery (the Redis
visibility timeout or beat's recovery task, whichever comes first); exactly
one report and one e-mail for that window. A job that crashes on every
attempt ends failed after the attempt cap, with no e-mail.

For the duration of the check the worker runs with a 30 s report lease and a
60 s Redis visibility timeout (still longer than every countdown), so that
redelivery happens in a minute instead of an hour."""

import signal
import time

from tests.reliability import drills as h

NUMBER = 11
TITLE = "Worker killed mid-job"
FAST = False  # minutes of waiting on purpose: `make reliability` runs it

WORKER_ENV = {
    "MONITORING_REPORT_LEASE_SECONDS": "30",
    "MONITORING_REPORT_RETRY_SECONDS": "2",
    "CELERY_VISIBILITY_TIMEOUT_SECONDS": "60",
}


def _unacked(ctx) -> int:
    import redis

    return redis.Redis.from_url(ctx.stack.redis_url).hlen("unacked")


def _killed_mid_job(ctx) -> None:
    from monitoring.models import Report

    monitor = h.make_monitor(ctx, "rel11", html_report=True)
    address = monitor.recipient_list[0]
    start, end = h.hour_window(5)
    h.log_window(
        ctx, start=start, end=end, rows=3000, seed=31, shift={"mean_radius": 2.0}
    )
    response = h.report_request(ctx, monitor.pk, start, end)
    ctx.expect(response.status == 202, f"report request answered {response.status}")
    report_id = response.json()["id"]

    def mid_job():
        row = Report.objects.filter(pk=report_id).values("status", "progress").get()
        if row["status"] in ("succeeded", "failed"):
            raise h.CheckFailed(f"report #{report_id} ended before the kill")
        return row["status"] == "running" and row["progress"] >= 15

    ctx.wait(mid_job, f"report #{report_id} to be computing", 120, 0.05)
    message = Report.objects.get(pk=report_id).progress_message
    ctx.stack.signal("worker", signal.SIGKILL)
    ctx.stack.processes["worker"].wait(10)
    killed_at = time.monotonic()
    ctx.say(f"worker killed with SIGKILL during report #{report_id}: {message!r}")
    status = Report.objects.get(pk=report_id).status
    ctx.figure("report after the kill", status, status == "running")

    ctx.stack.restart("worker")
    ctx.wait(
        lambda: Report.objects.filter(pk=report_id, status="succeeded").exists(),
        f"report #{report_id} to complete after the restart",
        timeout=240,
        interval=0.5,
    )
    ctx.figure(
        "completed after the kill in", f"{time.monotonic() - killed_at:.0f}s", True
    )
    # the killed delivery comes back once the visibility timeout is over: let
    # it, and every other delivery, finish before counting
    ctx.wait(lambda: _unacked(ctx) == 0, "Redis to hold no unacked message", 120, 1)
    h.quiet(lambda: len(h.digests_to(ctx, address)), 5, 60)
    report = Report.objects.get(pk=report_id)
    reports = Report.objects.filter(monitor=monitor).count()
    digests = len(h.digests_to(ctx, address))
    ctx.figure("attempts", report.attempts, report.attempts == 2)
    ctx.figure("reports for the window", reports, reports == 1)
    ctx.figure("e-mails for the window", digests, digests == 1)
    drifted = report.summary.get("feature_drift", {}).get("drifted_columns", [])
    ctx.figure("drift found in", drifted, "mean_radius" in drifted)


def _always_crashing(ctx) -> None:
    from django.conf import settings

    from monitoring.models import Report

    cap = settings.MONITORING["REPORT_MAX_ATTEMPTS"]
    # pinned to a version that does not exist: every attempt raises
    monitor = h.make_monitor(ctx, "rel11-crash", model_version=999)
    address = monitor.recipient_list[0]
    start, end = h.hour_window(5)
    response = h.report_request(ctx, monitor.pk, start, end)
    ctx.expect(response.status == 202, f"report request answered {response.status}")
    report_id = response.json()["id"]
    ctx.wait(
        lambda: Report.objects.filter(pk=report_id, status="failed").exists(),
        f"report #{report_id} to end failed",
        timeout=180,
        interval=0.5,
    )
    time.sleep(5)  # a stray delivery would add an attempt
    report = Report.objects.get(pk=report_id)
    ctx.figure(
        "always-crashing job",
        f"{report.status} after {report.attempts} attempts (cap {cap})",
        report.status == "failed" and report.attempts == cap,
    )
    ctx.figure("its error", report.error.splitlines()[0][:120], bool(report.error))
    digests = len(h.digests_to(ctx, address))
    ctx.figure("its e-mails", digests, digests == 0)
    ctx.figure(
        "worker alive", ctx.stack.is_running("worker"), ctx.stack.is_running("worker")
    )


def run(ctx) -> None:
    ctx.orm()
    ctx.stack.extra_env = dict(WORKER_ENV)
    try:
        ctx.stack.restart("worker")
        _killed_mid_job(ctx)
        _always_crashing(ctx)
    finally:
        ctx.stack.extra_env = {}
        ctx.stack.restart("worker")
