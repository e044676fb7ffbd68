"""Promotion under a running beat: a version goes to staging and production
through the live API while the reconciler, the alias sync and the checks'
housekeeping run on the stack's worker every second (besides the beat's own
schedule) → zero out-of-band events, the first production approval is still
counted when the second arrives (the clock does not make it stale), and the
staging check passes exactly the policy's minimum after the apply's own alias
move."""

import threading
import time
from datetime import timedelta

from django.utils.dateparse import parse_datetime

from tests.reliability import drills as h

NUMBER = 19
TITLE = "Promotion under a running beat"
FAST = True

MIN_STAGING_MINUTES = 1


def _staging_check(body: dict) -> dict:
    return next(
        c for c in body["evidence"].get("checks", []) if c["name"] == "staging_time"
    )


def run(ctx) -> None:
    ctx.orm()
    from governance.models import AuditEvent
    from governance.tasks import (
        promotion_housekeeping,
        registry_model_sync,
        registry_reconcile,
    )

    name = h.new_model(ctx, "rel19")
    first_event = AuditEvent.objects.order_by("-sequence").first().sequence
    stop, ticks = threading.Event(), []

    def beat():
        while not stop.is_set():
            registry_reconcile.delay()
            registry_model_sync.delay(name=name)
            promotion_housekeeping.delay()
            ticks.append(time.monotonic())
            stop.wait(1.0)

    ticker = threading.Thread(target=beat, daemon=True)
    with h.production_without_staging_wait(
        ctx, min_staging_minutes=MIN_STAGING_MINUTES
    ):
        ticker.start()
        try:
            staged = h.promote(ctx, name, 1, "staging")
            ctx.say(f"v1 @staging by request #{staged['id']}")
            created = h.request_create(ctx, name, 1, "production")
            request_id = created["id"]

            def checked():
                body = h.request_get(ctx, request_id)
                return body if body["checks_status"] != "running" else None

            first = ctx.wait(checked, "the first checks", 90)
            staging = _staging_check(first)
            moved = AuditEvent.objects.get(
                model_name=name, alias="staging", kind="alias_moved"
            )
            expected = moved.created_at + timedelta(minutes=MIN_STAGING_MINUTES)
            passes_at = parse_datetime(staging["data"].get("passes_at") or "")
            ctx.figure(
                "staging check passes at (apply's alias move + minimum)",
                f"{staging['detail']}",
                passes_at == expected,
            )

            def passed():
                body = h.request_get(ctx, request_id)
                return body if body["checks_status"] == "passed" else None

            body = ctx.wait(passed, "the staging time to pass", 150, interval=1)
            waited = (parse_datetime(body["checks_run_at"]) - expected).total_seconds()
            ctx.figure(
                "checks passed after the minimum (s late)",
                f"{waited:.1f}",
                waited >= 0,
            )
            h.approve_ok(ctx, request_id, "production_approver")
            approved_at = time.monotonic()
            # housekeeping re-runs the checks many times before the second
            time.sleep(10 if ctx.fast else 60)
            refreshes = sum(1 for t in ticks if t > approved_at)
            h.approve_ok(ctx, request_id, "production_approver_2")
            final = h.wait_status(ctx, request_id, ("applied", "apply_failed"))
        finally:
            stop.set()
            ticker.join(timeout=10)
    ctx.figure("beat ticks sent (reconcile, sync, housekeeping)", len(ticks))
    ctx.figure("check refreshes between the two approvals", refreshes, refreshes > 5)
    ctx.figure("production request", final["status"], final["status"] == "applied")
    # the evidence changes once, legitimately, when the staging check passes;
    # never after an approval, while only the clock moves
    first_approval = h.events(request_id, "approved").order_by("sequence").first()
    changes = h.events(request_id, "evidence_changed")
    stale = changes.filter(sequence__gt=first_approval.sequence).count()
    ctx.figure("evidence changes before the first approval", changes.count() - stale)
    ctx.figure("evidence changes after the first approval", stale, stale == 0)
    out_of_band = AuditEvent.objects.filter(
        model_name=name, kind="alias_out_of_band", sequence__gt=first_event
    ).count()
    ctx.figure("out-of-band events", out_of_band, out_of_band == 0)
    aliases = h.mlflow_aliases(ctx, name)
    ctx.figure(
        "MLflow aliases",
        aliases,
        aliases.get("staging") == 1 and aliases.get("production") == 1,
    )
