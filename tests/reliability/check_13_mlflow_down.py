"""MLflow unavailable during apply: with the MLflow server stopped, an approved
request ends apply_failed with a clear message and the alias does not move;
when MLflow returns, the reconciler (beat, every 60 s) applies it once: one
``applied`` audit event."""

import signal
import time

from tests.reliability import drills as h

NUMBER = 13
TITLE = "MLflow unavailable during apply"
FAST = True


def run(ctx) -> None:
    ctx.orm()
    from governance.tasks import registry_reconcile

    name = h.new_model(ctx, "rel13")
    version = h.register_copy(ctx, name)  # v2: a fresh version to promote
    created = h.request_create(ctx, name, version, "staging")
    request_id = created["id"]
    h.wait_checks(ctx, request_id)
    ctx.say(f"request #{request_id}: {name} v{version} → staging, checks passed")

    # beat is paused so that no reconciliation runs before we have looked at
    # MLflow after its restart; it resumes (and catches up) afterwards
    ctx.stack.signal("beat", signal.SIGSTOP)
    ctx.stack.stop("mlflow")
    ctx.say("MLflow server stopped, beat paused")
    try:
        started = time.monotonic()
        response = h.approve(ctx, request_id, "staging_approver")
        ctx.figure(
            "approval while MLflow is down",
            f"{response.status} in {time.monotonic() - started:.1f}s",
            response.status == 200,
        )
        body = h.wait_status(ctx, request_id, ("apply_failed", "applied"), 120)
        message = body["apply_error"]
        ctx.figure("request status", body["status"], body["status"] == "apply_failed")
        clear = any(
            word in message.lower()
            for word in ("connect", "refused", "mlflow", "unavailable")
        )
        line = " ".join(message.split())
        shown = line if len(line) <= 200 else f"{line[:90]} … {line[-100:]}"
        ctx.figure("apply_error", shown, clear)
        failed = h.events(request_id, "apply_failed").count()
        ctx.figure("apply_failed audit events", failed, failed >= 1)
        ctx.stack.restart("mlflow")
        aliases = h.mlflow_aliases(ctx, name)
        ctx.figure(
            "MLflow aliases when it is back (before reconciling)",
            aliases,
            "staging" not in aliases,
        )
    finally:
        if not ctx.stack.is_running("mlflow"):
            ctx.stack.restart("mlflow")
        ctx.stack.signal("beat", signal.SIGCONT)
    ctx.say("MLflow restarted, beat resumed; waiting for the reconciler")

    started = time.monotonic()
    body = h.wait_status(ctx, request_id, ("applied",), timeout=180)
    ctx.figure(
        "applied by the reconciler after",
        f"{time.monotonic() - started:.0f}s (attempt {body['apply_attempts']})",
        body["apply_attempts"] >= 2,
    )
    # more reconciliations change nothing
    registry_reconcile.delay()
    registry_reconcile.delay()
    time.sleep(8)
    applied = list(h.events(request_id, "applied"))
    aliases = h.mlflow_aliases(ctx, name)
    ctx.figure("applied audit events", len(applied), len(applied) == 1)
    ctx.figure(
        "MLflow staging alias",
        f"v{aliases.get('staging')} (applied event: v{applied[0].version})",
        aliases.get("staging") == version == applied[0].version,
    )
