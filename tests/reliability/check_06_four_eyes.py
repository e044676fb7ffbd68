"""Four-eyes: a requester approving their own request (API, admin action,
admin form) gets 403, the MLflow alias does not move and the attempt is
audited; a staging approver cannot approve production; one approver counts
once under the production policy (two approvals)."""

from tests.reliability import drills as h

NUMBER = 6
TITLE = "Four-eyes"
FAST = True


def _denied(ctx, request_id: int, username: str, code: str, via: str) -> int:
    return (
        h.events(request_id, "denied")
        .filter(actor=username, payload__code=code, payload__via=via)
        .count()
    )


def run(ctx) -> None:
    ctx.orm()
    from governance.models import Approval

    name = h.new_model(ctx, "rel06")
    ctx.say(f"model {name} v1 registered in MLflow (a copy of sms-spam v1)")
    # the risky combination: a data scientist who is also a staging approver
    sam = h.make_user(ctx, "rel-sam", ["requesters", "staging_approvers"])
    created = h.request_create(ctx, name, 1, "staging", role=sam.username)
    request_id = created["id"]
    checked = h.wait_checks(ctx, request_id)
    ctx.say(f"{sam.username} requested {name} v1 → staging: request #{request_id}")

    # 1. the API
    response = h.approve(ctx, request_id, sam.username, comment="fine by me")
    ctx.figure(
        "self-approval via API",
        f"{response.status} {h.error_code(response)}",
        response.status == 403 and h.error_code(response) == "self_approval",
    )
    # 2. the admin action on the changelist ("All open" lists one's own)
    admin = h.AdminSession(ctx).login(sam)
    changelist = "/admin/governance/promotionrequest/?queue=open"
    response = admin.post(
        changelist, {"action": "approve_selected", "_selected_action": [request_id]}
    )
    text = response.body.decode("utf-8", "replace")
    ctx.figure(
        "self-approval via admin action",
        response.status,
        response.status == 403 and "four-eyes" in text,
    )
    # 3. the admin review form (the button is not even offered)
    change = f"/admin/governance/promotionrequest/{request_id}/change/"
    page = admin.get(change)
    offered = 'id="approve-button"' in page.body.decode("utf-8", "replace")
    ctx.figure("approve button offered to the requester", offered, not offered)
    response = admin.post(
        change,
        {
            "decision": "approve",
            "comment": "",
            "evidence_digest": checked["evidence_digest"],
        },
    )
    text = response.body.decode("utf-8", "replace")
    ctx.figure(
        "self-approval via admin form",
        response.status,
        response.status == 403 and "your own request" in text,
    )

    aliases = h.mlflow_aliases(ctx, name)
    ctx.figure("MLflow aliases after the three attempts", aliases, aliases == {})
    body = h.request_get(ctx, request_id)
    approvals = Approval.objects.filter(request_id=request_id).count()
    ctx.figure(
        "request status / approvals stored",
        f"{body['status']} / {approvals}",
        body["status"] == "pending" and approvals == 0,
    )
    audited = {
        via: _denied(ctx, request_id, sam.username, "self_approval", via)
        for via in ("api", "admin-action", "admin-form")
    }
    ctx.figure(
        "denials audited (api, admin-action, admin-form)",
        audited,
        all(n == 1 for n in audited.values()),
    )

    # another reviewer may approve it: staging moves to v1
    h.approve_ok(ctx, request_id, "staging_approver")
    h.wait_status(ctx, request_id, ("applied",))
    ctx.say("bob approved the staging request; it was applied")

    with h.production_without_staging_wait(ctx):
        created = h.request_create(ctx, name, 1, "production")
        prod_id = created["id"]
        h.wait_checks(ctx, prod_id)
        ctx.say(f"alice requested {name} v1 → production: request #{prod_id}")
        # a staging approver is not a production approver
        response = h.approve(ctx, prod_id, "staging_approver")
        bob = ctx.accounts["staging_approver"].username
        ctx.figure(
            "staging approver approving production",
            f"{response.status} {h.error_code(response)}",
            response.status == 403
            and h.error_code(response) == "not_an_approver"
            and _denied(ctx, prod_id, bob, "not_an_approver", "api") == 1,
        )
        # one approver counts once: carol twice is still 1 of 2
        first = h.approve(ctx, prod_id, "production_approver")
        second = h.approve(ctx, prod_id, "production_approver")
        carol = ctx.accounts["production_approver"].username
        body = h.request_get(ctx, prod_id)
        fresh = [a for a in body["approvals"] if a["decision"] == "approve"]
        ctx.figure(
            "same approver twice",
            f"{first.status}, {second.status} {h.error_code(second)}; "
            f"status {body['status']}, {len(fresh)} approval",
            first.status == 200
            and second.status == 403
            and h.error_code(second) == "already_approved"
            and body["status"] == "pending"
            and len(fresh) == 1
            and _denied(ctx, prod_id, carol, "already_approved", "api") == 1,
        )
        aliases = h.mlflow_aliases(ctx, name)
        ctx.figure(
            "production alias after 1 of 2 approvals",
            aliases.get("production"),
            "production" not in aliases,
        )
        # the second distinct approver completes it
        h.approve_ok(ctx, prod_id, "production_approver_2")
        body = h.wait_status(ctx, prod_id, ("applied", "apply_failed"))
        aliases = h.mlflow_aliases(ctx, name)
        ctx.figure(
            "after a second approver",
            f"{body['status']}, production → v{aliases.get('production')}",
            body["status"] == "applied" and aliases.get("production") == 1,
        )
