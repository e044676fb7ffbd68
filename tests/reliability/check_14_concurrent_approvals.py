"""Concurrent approvals: a production request that needs one more approval
(one of two given) is approved by two approvers at the same instant through
the live API → exactly one transition to approved, one apply, one ``applied``
audit event; the MLflow alias equals the version of the last applied event.
Repeated over several fresh versions to give the race its chances."""

from collections import Counter

from tests.reliability import drills as h

NUMBER = 14
TITLE = "Concurrent approvals"
FAST = True


def run(ctx) -> None:
    ctx.orm()
    from governance.models import AuditEvent

    rounds = 3 if ctx.fast else 6
    name = h.new_model(ctx, "rel14")
    ctx.say(f"model {name}; {rounds} rounds, each a fresh version")
    answers: Counter = Counter()
    # the stack has two production approvers; the admin is the third reviewer,
    # which a policy must allow (superusers approve only in their own groups)
    with h.production_without_staging_wait(ctx, superuser_may_approve=True):
        for number in range(rounds):
            version = 1 if number == 0 else h.register_copy(ctx, name)
            h.promote(ctx, name, version, "staging")
            created = h.request_create(ctx, name, version, "production")
            request_id = created["id"]
            h.wait_checks(ctx, request_id)
            h.approve_ok(ctx, request_id, "production_approver")  # 1 of 2
            # the last approval, twice at the same instant
            results = h.at_once(
                lambda r=request_id: h.approve(ctx, r, "production_approver_2"),
                lambda r=request_id: h.approve(ctx, r, "admin"),
            )
            crashed = [r for r in results if isinstance(r, Exception)]
            ctx.expect(not crashed, f"round {number}: a request failed: {crashed}")
            codes = sorted(r.status for r in results)
            answers.update(f"{r.status} {h.error_code(r)}".strip() for r in results)
            ctx.expect(
                all(code < 500 for code in codes) and 200 in codes,
                f"round {number}: answers {codes}",
            )
            body = h.wait_status(ctx, request_id, ("applied", "apply_failed"))
            ctx.expect(
                body["status"] == "applied",
                f"round {number}: request #{request_id} ended {body['status']}",
            )
            counts = {
                kind: h.events(request_id, kind).count()
                for kind in ("request_approved", "apply_started", "applied")
            }
            ctx.say(
                f"round {number}: v{version} request #{request_id}: answers "
                f"{codes}, events {counts}, attempts {body['apply_attempts']}"
            )
            ctx.expect(
                counts == {"request_approved": 1, "apply_started": 1, "applied": 1},
                f"round {number}: request #{request_id} has events {counts} "
                "(expected exactly one approval transition, one apply, one applied)",
            )
            last = (
                AuditEvent.objects.filter(
                    model_name=name, alias="production", kind="applied"
                )
                .order_by("-sequence")
                .first()
            )
            aliases = h.mlflow_aliases(ctx, name)
            ctx.expect(
                aliases.get("production") == last.version == version,
                f"round {number}: MLflow production v{aliases.get('production')}, "
                f"last applied event v{last.version}, expected v{version}",
            )
    ctx.figure("rounds", rounds)
    ctx.figure("answers to the simultaneous approvals", dict(answers))
    applied = AuditEvent.objects.filter(
        model_name=name, alias="production", kind="applied"
    ).count()
    ctx.figure("applied events (one per round)", applied, applied == rounds)
    ctx.figure(
        "MLflow production alias = last applied event",
        f"v{h.mlflow_aliases(ctx, name).get('production')}",
    )
