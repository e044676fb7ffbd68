"""Appending to, verifying and exporting the audit ledger."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from governance.hashing import (
    GENESIS_HASH,
    event_body,
    json_normalized,
    link_hash,
    timestamp_text,
)
from governance.models import AuditChainHead, AuditEvent
from governance.selectors import audit_chain_head

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


def audit_keyring() -> tuple[dict[str, bytes], str]:
    """The chain's keys (id → secret) and the id new events are signed with,
    from settings: never from the database the chain protects."""
    conf = settings.GOVERNANCE
    keys: dict[str, bytes] = {}
    for pair in conf.get("AUDIT_KEYS") or []:
        key_id, sep, secret = str(pair).partition(":")
        if not sep or not key_id or not secret:
            raise ValueError("MODELGATE_AUDIT_KEYS: each entry is 'id:secret'")
        keys[key_id.strip()] = secret.strip().encode("utf-8")
    if not keys:
        derived = hashlib.sha256(
            b"modelgate audit chain\n" + settings.SECRET_KEY.encode("utf-8")
        ).digest()
        keys["default"] = derived
    current = conf.get("AUDIT_KEY_ID") or list(keys)[-1]
    if current not in keys:
        raise ValueError(f"MODELGATE_AUDIT_KEY_ID {current!r} is not a listed key")
    return keys, current


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
        keys, key_id = audit_keyring()
        digest = link_hash(
            keys=keys, key_id=key_id, prev_hash=head.last_hash, body=body
        )
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
            key_id=key_id,
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


def _link_problem(
    *,
    keys: dict[str, bytes],
    sequence: int,
    key_id: str,
    prev_hash: str,
    body: dict,
    stored_hash: str,
) -> str:
    """Why an event's hash is not the link it must be ("" when it is)."""
    if not key_id and sequence > settings.GOVERNANCE.get("AUDIT_UNKEYED_UNTIL", 0):
        return (
            "not signed with a key: an unkeyed hash after the chain was keyed "
            "(rewritten by someone without the key)"
        )
    expected = link_hash(keys=keys, key_id=key_id, prev_hash=prev_hash, body=body)
    if expected is None:
        return f"signed with key {key_id!r}, which is not in MODELGATE_AUDIT_KEYS"
    if not hmac.compare_digest(expected, stored_hash):
        return "content does not match its hash (the row was changed)"
    return ""


def _anchor_problem(anchor: dict) -> tuple[int | None, str]:
    """Compare the ledger with an anchor written outside the database."""
    sequence, expected = int(anchor["sequence"]), anchor["hash"]
    if sequence == 0:
        return None, ""
    at = anchor.get("at", "?")
    event = AuditEvent.objects.filter(sequence=sequence).first()
    if event is None:
        return sequence, (
            f"the anchor of {at} says the chain reached #{sequence} with hash "
            f"{expected[:16]}…, but the ledger has no event #{sequence}: events "
            "were removed"
        )
    if event.hash != expected:
        return sequence, (
            f"the chain head disagrees with the anchor of {at}: event #{sequence} "
            f"has hash {event.hash[:16]}… in the ledger, {expected[:16]}… in the "
            "anchor (the chain was rewritten)"
        )
    return None, ""


def audit_verify(*, batch_size: int = 2000, anchor: dict | None = None) -> VerifyResult:
    """Walk the chain in order; report the first event whose hash, key, link or
    position is wrong, or a head that does not match the last event; with
    ``anchor`` (a head recorded outside the database), also an event at the
    anchored position that differs from it."""
    keys, _current = audit_keyring()
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
        problem = _link_problem(
            keys=keys,
            sequence=event.sequence,
            key_id=event.key_id,
            prev_hash=prev_hash,
            body=_body_of(event),
            stored_hash=event.hash,
        )
        if problem:
            return VerifyResult(False, checked, event.sequence, event.pk, problem)
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
    if anchor is not None:
        bad, problem = _anchor_problem(anchor)
        if problem:
            return VerifyResult(False, checked, bad, None, problem)
    return VerifyResult(True, checked)


# ------------------------------------------------------------------ anchors
def audit_anchor_write(*, path: str | os.PathLike | None = None) -> dict:
    """Append the chain head, with the time, to the anchor file outside the
    database (one JSON line each time; fsynced). Returns the anchor."""
    target = Path(path or settings.GOVERNANCE["AUDIT_ANCHOR_PATH"])
    anchor = {**audit_chain_head(), "at": timestamp_text(timezone.now())}
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "a", encoding="utf-8") as out:
        out.write(json.dumps(anchor, sort_keys=True) + "\n")
        out.flush()
        os.fsync(out.fileno())
    logger.info("audit chain anchored at #%s in %s", anchor["sequence"], target)
    return anchor


def audit_anchor_last(path: str | os.PathLike) -> dict | None:
    """The last anchor of an anchor file (None when it holds none)."""
    last = None
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                last = json.loads(line)
    return last


def audit_event_dict(event: AuditEvent) -> dict:
    """One event as exported (the hashed fields plus both hashes)."""
    return {
        **_body_of(event),
        "prev_hash": event.prev_hash,
        "key_id": event.key_id,
        "hash": event.hash,
    }


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
    keys, _current = audit_keyring()
    previous: dict | None = None
    checked = 0
    for line in lines:
        if not line.strip():
            continue
        row = json.loads(line)
        stored_hash, stored_prev = row.pop("hash"), row.pop("prev_hash")
        key_id = row.pop("key_id", "")
        sequence = row.get("sequence")
        problem = _link_problem(
            keys=keys,
            sequence=sequence,
            key_id=key_id,
            prev_hash=stored_prev,
            body=row,
            stored_hash=stored_hash,
        )
        if problem:
            return VerifyResult(False, checked, sequence, None, problem)
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
