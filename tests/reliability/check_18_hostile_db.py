"""Hostile database user: a role with every write privilege on the audit ledger
gets its raw UPDATE, DELETE and TRUNCATE rejected by the database itself; a
whole-chain rewrite with recomputed unkeyed hashes fails verification; a
rewrite by someone holding the key is named by the last anchor of the chain
head written outside the database. Rewrites run in a transaction of this
process that is rolled back: the stack's ledger is never changed."""

import tempfile
import uuid
from pathlib import Path

from tests.reliability import drills as h

NUMBER = 18
TITLE = "Hostile database user"
FAST = True


class _Rollback(Exception):
    pass


def _rewrite(link, key_id: str) -> None:
    """Rewrite every event (the middle one's payload changed), recompute the
    chain with ``link(prev_hash, body)`` and move the head (raw SQL)."""
    import json

    from django.db import connection

    from governance.hashing import GENESIS_HASH
    from governance.models import AuditEvent
    from governance.services.audit import _body_of

    events = list(AuditEvent.objects.order_by("sequence"))
    middle = events[len(events) // 2].sequence
    prev = GENESIS_HASH
    with connection.cursor() as cursor:
        for event in events:
            if event.sequence == middle:
                event.payload = {"rewritten": True}
            digest = link(prev, _body_of(event))
            cursor.execute(
                "UPDATE governance_auditevent SET payload = %s, prev_hash = %s, "
                "hash = %s, key_id = %s WHERE id = %s",
                [json.dumps(event.payload), prev, digest, key_id, event.pk],
            )
            prev = digest
        cursor.execute(
            "UPDATE governance_auditchainhead SET last_hash = %s WHERE id = 1", [prev]
        )


def _verify_rewritten(link, key_id: str, **kwargs):
    """audit_verify on a rewritten chain, inside a transaction rolled back."""
    from django.db import transaction

    from governance.services.audit import audit_verify

    result = None
    try:
        with transaction.atomic():
            _rewrite(link, key_id)
            result = audit_verify(**kwargs)
            raise _Rollback
    except _Rollback:
        pass
    return result


def _export_rewritten(link, key_id: str, path: Path) -> None:
    """Write the rewritten ledger as an audit export, then roll back."""
    from django.db import transaction

    from governance.services.audit import audit_export

    try:
        with transaction.atomic():
            _rewrite(link, key_id)
            with open(path, "w", encoding="utf-8") as out:
                audit_export(out=out)
            raise _Rollback
    except _Rollback:
        pass


def run(ctx) -> None:
    ctx.orm()
    from django.db import DatabaseError, connection, transaction

    from governance.hashing import event_hash, event_mac
    from governance.models import AuditEvent
    from governance.services.audit import audit_anchor_last, audit_keyring

    total = AuditEvent.objects.count()
    ctx.expect(total > 2, f"the ledger has {total} events: too few to rewrite")
    ctx.say(f"ledger: {total} events")

    # 1. raw SQL as a role with every write privilege on the ledger
    role = f"rel_hostile_{uuid.uuid4().hex[:8]}"
    refused = {}
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"CREATE ROLE {role} NOLOGIN")
            cursor.execute(
                "GRANT SELECT, UPDATE, DELETE, TRUNCATE ON governance_auditevent "
                f"TO {role}"
            )
            cursor.execute(f"SET LOCAL ROLE {role}")
            for what, sql in (
                ("UPDATE", "UPDATE governance_auditevent SET actor = 'mallory'"),
                ("DELETE", "DELETE FROM governance_auditevent"),
                ("TRUNCATE", "TRUNCATE governance_auditevent"),
            ):
                try:
                    with transaction.atomic():
                        cursor.execute(sql)
                    refused[what] = "accepted"
                except DatabaseError as exc:
                    refused[what] = str(exc).splitlines()[0]
            raise _Rollback  # the role and anything accepted disappear
    except _Rollback:
        pass
    for what, answer in refused.items():
        ctx.figure(
            f"raw {what} by a non-superuser role", answer, "append-only" in answer
        )
    ctx.figure(
        "events after the attempts",
        AuditEvent.objects.count(),
        AuditEvent.objects.count() >= total,
    )

    # 2. whole-chain rewrite with recomputed hashes, without the key: the
    # rewritten ledger is exported and verified by the stack's own command
    from governance.services.audit import audit_verify

    clean = audit_verify()
    ctx.figure("audit_verify before", clean.describe(), clean.ok)
    folder = Path(tempfile.mkdtemp(prefix="rel18-"))
    for label, link, key_id in (
        ("recomputed plain SHA-256", event_hash, ""),
        (
            "a guessed key",
            lambda prev, body: event_mac(b"guessed", "default", prev, body),
            "default",
        ),
    ):
        path = folder / f"rewritten-{key_id or 'plain'}.jsonl"
        _export_rewritten(link, key_id, path)
        result = h.manage_result(ctx, "audit_verify", "--file", str(path))
        last = (result.stdout + result.stderr).strip().splitlines()[-1:]
        ctx.figure(
            f"whole chain rewritten with {label}: audit_verify",
            f"exit {result.returncode}: {' '.join(last)[:200]}",
            result.returncode != 0 and "#1" in " ".join(last),
        )

    # 3. the anchor outside the database names a rewrite made with the key
    anchors = folder / "anchors.jsonl"
    h.manage_result(ctx, "audit_anchor", "--path", str(anchors))
    anchor = audit_anchor_last(anchors)
    ctx.expect(anchor is not None, "audit_anchor wrote no anchor")
    result = h.manage_result(ctx, "audit_verify", "--anchor", str(anchors))
    last = (result.stdout + result.stderr).strip().splitlines()[-1:]
    ctx.figure(
        "audit_verify --anchor on the untouched ledger",
        f"exit {result.returncode}: {' '.join(last)}",
        result.returncode == 0,
    )
    keys, current = audit_keyring()
    insider = _verify_rewritten(
        lambda prev, body: event_mac(keys[current], current, prev, body),
        current,
        anchor=anchor,
    )
    ctx.figure(
        "chain rewritten with the key, checked against the anchor",
        insider.describe(),
        not insider.ok
        and "disagrees with the anchor" in insider.problem
        and f"#{anchor['sequence']}" in insider.problem,
    )
    after = audit_verify()
    ctx.figure("audit_verify after the check (rolled back)", after.describe(), after.ok)
