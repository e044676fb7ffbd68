"""Appending to, verifying and exporting the audit ledger."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from django.db import connection, transaction
from django.utils import timezone

from governance.hashing import (
    GENESIS_HASH,
    event_body,
    event_hash,
    json_normalized,
)
from governance.models import AuditChainHead, AuditEvent

logger = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"


def actor_of(user: Any) -> tuple[str, int | None]:
    """(name, id) of whoever acts: a user, or a system name such as 'system'."""
    if user is None:
        return SYSTEM_ACTOR, None
    if isinstance(user, str):
        return user, None
    if not getattr(user, "is_authenticated", False):
        return "anonymous", None
    return user.get_username(), user.pk


def _lock_head() -> AuditChainHead:
    """The chain head, locked until the surrounding transaction ends."""
    if connection.vendor == "postgresql":
        head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
    else:  # SQLite: the IMMEDIATE transaction already holds the write lock
        head = AuditChainHead.objects.filter(pk=1).first()
    if head is None:
        AuditChainHead.objects.get_or_create(pk=1)
        head = AuditChainHead.objects.select_for_update().get(pk=1)
    return head


def audit_append(
    *,
    kind: str,
    actor: Any = None,
    model_name: str = "",
    alias: str = "",
    version: int | None = None,
    request_id: int | None = None,
    payload: dict | None = None,
) -> AuditEvent:
    """Append one event to the chain (in the caller's transaction, if any).

    The chain head row is locked for the rest of the transaction, so concurrent
    appends queue and each links to the event committed before it.
    """
    name, actor_id = actor_of(actor)
    payload = json_normalized(payload or {})
    with transaction.atomic():
        head = _lock_head()
        sequence = head.last_sequence + 1
        created_at = timezone.now()
        body = event_body(
            sequence=sequence,
            created_at=created_at,
            kind=kind,
            actor=name,
            actor_id=actor_id,
            model_name=model_name,
            alias=alias,
            version=version,
            request_ref=request_id,
            payload=payload,
        )
        digest = event_hash(head.last_hash, body)
        event = AuditEvent.objects.create(
            sequence=sequence,
            created_at=created_at,
            kind=kind,
            actor=name,
            actor_id=actor_id,
            model_name=model_name,
            alias=alias,
            version=version,
            request_ref=request_id,
            payload=payload,
            prev_hash=head.last_hash,
            hash=digest,
        )
        updated = AuditChainHead.objects.filter(
            pk=1, last_sequence=head.last_sequence
        ).update(last_sequence=sequence, last_hash=digest)
        if updated != 1:  # another writer moved the head: never fork the chain
            raise RuntimeError("audit chain head moved during append")
    logger.info(
        "audit #%s %s by %s %s%s",
        sequence,
        kind,
        name,
        model_name,
        f"@{alias}" * bool(alias),
    )
    return event


def _body_of(event: AuditEvent) -> dict:
    return event_body(
        sequence=event.sequence,
        created_at=event.created_at,
        kind=event.kind,
        actor=event.actor,
        actor_id=event.actor_id,
        model_name=event.model_name,
        alias=event.alias,
        version=event.version,
        request_ref=event.request_ref,
        payload=event.payload,
    )


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    bad_sequence: int | None = None
    bad_id: int | None = None
    problem: str = ""

    def describe(self) -> str:
        if self.ok:
            return f"audit chain verified: {self.checked} events, no problem"
        where = (
            f"event #{self.bad_sequence} (row id {self.bad_id})"
            if self.bad_id is not None
            else f"event #{self.bad_sequence}"
        )
        return f"audit chain BROKEN at {where}: {self.problem}"


def audit_verify(*, batch_size: int = 2000) -> VerifyResult:
    """Walk the chain in order; report the first event whose hash, link or
    position is wrong, or a head that does not match the last event."""
    prev_hash, expected_sequence, checked = GENESIS_HASH, 1, 0
    last = None
    for event in AuditEvent.objects.order_by("sequence").iterator(
        chunk_size=batch_size
    ):
        if event.sequence != expected_sequence:
            return VerifyResult(
                False,
                checked,
                event.sequence,
                event.pk,
                f"expected event #{expected_sequence} here: events are missing",
            )
        if event.prev_hash != prev_hash:
            return VerifyResult(
                False,
                checked,
                event.sequence,
                event.pk,
                "previous-hash link broken (an earlier event was changed or removed)",
            )
        if event_hash(prev_hash, _body_of(event)) != event.hash:
            return VerifyResult(
                False,
                checked,
                event.sequence,
                event.pk,
                "content does not match its hash (the row was changed)",
            )
        prev_hash, expected_sequence = event.hash, expected_sequence + 1
        checked += 1
        last = event
    head = AuditChainHead.objects.filter(pk=1).first()
    head_sequence = head.last_sequence if head else 0
    head_hash = head.last_hash if head else GENESIS_HASH
    last_sequence = last.sequence if last else 0
    if head_sequence != last_sequence or head_hash != prev_hash:
        return VerifyResult(
            False,
            checked,
            last_sequence,
            None,
            f"chain head says #{head_sequence} but the ledger ends at "
            f"#{last_sequence}: events at the end were removed or the head was changed",
        )
    return VerifyResult(True, checked)


def audit_event_dict(event: AuditEvent) -> dict:
    """One event as exported (the hashed fields plus both hashes)."""
    return {**_body_of(event), "prev_hash": event.prev_hash, "hash": event.hash}


def audit_export(
    *,
    out: IO[str],
    since: datetime | None = None,
    model_name: str | None = None,
    events: Iterable[AuditEvent] | None = None,
) -> int:
    """Write events as JSON lines (oldest first); returns how many."""
    if events is None:
        qs = AuditEvent.objects.order_by("sequence")
        if since is not None:
            qs = qs.filter(created_at__gte=since)
        if model_name:
            qs = qs.filter(model_name=model_name)
        events = qs.iterator(chunk_size=2000)
    count = 0
    for event in events:
        out.write(json.dumps(audit_event_dict(event), sort_keys=True) + "\n")
        count += 1
    return count


def audit_verify_lines(lines: Iterator[str]) -> VerifyResult:
    """Verify an audit_export file on its own (oldest first). Every event must
    match its own hash; consecutive events (sequence n, n + 1) must link. A
    filtered export (--model, --since) skips sequences: its links are checked
    where the sequences are consecutive."""
    previous: dict | None = None
    checked = 0
    for line in lines:
        if not line.strip():
            continue
        row = json.loads(line)
        stored_hash, stored_prev = row.pop("hash"), row.pop("prev_hash")
        sequence = row.get("sequence")
        if event_hash(stored_prev, row) != stored_hash:
            return VerifyResult(
                False, checked, sequence, None, "content does not match its hash"
            )
        if sequence == 1 and stored_prev != GENESIS_HASH:
            return VerifyResult(
                False, checked, sequence, None, "first event not at genesis"
            )
        if previous is not None:
            if sequence <= previous["sequence"]:
                return VerifyResult(False, checked, sequence, None, "out of order")
            if sequence == previous["sequence"] + 1 and stored_prev != previous["hash"]:
                return VerifyResult(False, checked, sequence, None, "link broken")
        previous = {"sequence": sequence, "hash": stored_hash}
        checked += 1
    return VerifyResult(True, checked)
