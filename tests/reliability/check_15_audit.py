"""Audit tamper evidence: a row edited or deleted directly in the database is
found and named by ``manage.py audit_verify`` (non-zero exit); the app refuses
ORM updates and deletes; the admin and the API offer no change or delete. The
tampered row is restored afterwards, so the chain is valid for what follows."""

from tests.reliability import drills as h

NUMBER = 15
TITLE = "Audit tamper evidence"
FAST = True

# raw SQL below names governance_auditevent and its one-row backup table


def _verify(ctx):
    result = h.manage_result(ctx, "audit_verify")
    text = (result.stdout + result.stderr).strip().splitlines()
    return result.returncode, (text[-1] if text else "")


def _sql(sql: str, params=()) -> int:
    """Raw SQL on the stack's database (table names are this module's
    constants; values are parameters)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def run(ctx) -> None:
    ctx.orm()
    from governance.models import AuditEvent
    from governance.models.audit import AuditLedgerIsAppendOnly

    code, text = _verify(ctx)
    ctx.figure("audit_verify before", f"exit {code}: {text}", code == 0)
    ctx.expect(code == 0, "the ledger must verify before the check")
    total = AuditEvent.objects.count()
    victim = AuditEvent.objects.order_by("sequence")[total // 2]
    ctx.say(f"victim: event #{victim.sequence} (row id {victim.pk}, {victim.kind})")

    # the application itself refuses to change or delete events
    refused = []
    for what, action in (
        ("update", lambda: AuditEvent.objects.filter(pk=victim.pk).update(actor="x")),
        ("delete", lambda: AuditEvent.objects.filter(pk=victim.pk).delete()),
        ("save", lambda: victim.save()),
    ):
        try:
            action()
        except AuditLedgerIsAppendOnly:
            refused.append(what)
    ctx.figure(
        "ORM update/delete/save refused",
        ", ".join(refused) or "none",
        len(refused) == 3,
    )

    named = f"#{victim.sequence}"
    _sql("DROP TABLE IF EXISTS reliability_audit_backup")
    _sql(
        "CREATE TABLE reliability_audit_backup AS "
        "SELECT * FROM governance_auditevent WHERE id = %s",
        [victim.pk],
    )
    try:
        # edited in the database
        _sql(
            "UPDATE governance_auditevent SET actor = 'mallory' WHERE id = %s",
            [victim.pk],
        )
        code, text = _verify(ctx)
        ctx.figure(
            "audit_verify after a raw UPDATE",
            f"exit {code}: {text}",
            code != 0 and named in text,
        )
        _sql(
            "UPDATE governance_auditevent t SET actor = b.actor "
            "FROM reliability_audit_backup b WHERE t.id = b.id"
        )
        # payload edited too
        _sql(
            "UPDATE governance_auditevent "
            "SET payload = '{\"edited\": true}'::jsonb WHERE id = %s",
            [victim.pk],
        )
        code, text = _verify(ctx)
        ctx.figure(
            "audit_verify after a payload edit",
            f"exit {code}: {text}",
            code != 0 and named in text,
        )
        _sql(
            "UPDATE governance_auditevent t SET payload = b.payload "
            "FROM reliability_audit_backup b WHERE t.id = b.id"
        )
        # deleted in the database
        _sql("DELETE FROM governance_auditevent WHERE id = %s", [victim.pk])
        code, text = _verify(ctx)
        following = f"#{victim.sequence + 1}"
        ctx.figure(
            "audit_verify after a raw DELETE",
            f"exit {code}: {text}",
            code != 0 and (named in text or following in text),
        )
    finally:
        _sql("DELETE FROM governance_auditevent WHERE id = %s", [victim.pk])
        _sql("INSERT INTO governance_auditevent SELECT * FROM reliability_audit_backup")
        _sql("DROP TABLE reliability_audit_backup")
    code, text = _verify(ctx)
    ctx.figure("audit_verify after restoring", f"exit {code}: {text}", code == 0)

    # the admin: no add, change or delete, even for a superuser
    count = AuditEvent.objects.count()
    admin = h.AdminSession(ctx).login(ctx.accounts["admin"])
    change = f"/admin/governance/auditevent/{victim.pk}/change/"
    page = admin.get(change)
    html = page.body.decode("utf-8", "replace")
    offered = 'name="_save"' in html or "deletelink" in html
    ctx.figure(
        "admin change page",
        f"{page.status}, save/delete offered: {offered}",
        page.status == 200 and not offered,
    )
    answers = {
        "change POST": admin.post(change, {"actor": "mallory"}).status,
        "delete POST": admin.post(
            f"/admin/governance/auditevent/{victim.pk}/delete/", {"post": "yes"}
        ).status,
        "add GET": admin.get("/admin/governance/auditevent/add/").status,
    }
    ctx.figure(
        "admin change/delete/add", answers, all(s == 403 for s in answers.values())
    )
    action = admin.post(
        "/admin/governance/auditevent/",
        {"action": "delete_selected", "_selected_action": [victim.pk]},
    )
    ctx.figure(
        "admin bulk delete action",
        f"{action.status}, rows {count} → {AuditEvent.objects.count()}",
        action.status in (200, 302)
        and AuditEvent.objects.filter(pk=victim.pk).exists(),
    )

    # the API: read-only
    url = "/api/governance/audit-events/"
    listing = ctx.request("GET", url, role="admin")
    answers = {
        method: ctx.request(method, url, role="admin", body={"actor": "x"}).status
        for method in ("POST", "PUT", "PATCH", "DELETE")
    }
    ctx.figure(
        "API GET / POST PUT PATCH DELETE",
        f"{listing.status} / {answers}",
        listing.status == 200 and all(s == 405 for s in answers.values()),
    )
    code, text = _verify(ctx)
    ctx.figure("audit_verify at the end", f"exit {code}: {text}", code == 0)
    # the stored row is exactly the original again
    restored = AuditEvent.objects.get(pk=victim.pk)
    ctx.expect(
        (restored.actor, restored.hash, restored.payload)
        == (victim.actor, victim.hash, victim.payload),
        "the restored row differs from the original",
    )
