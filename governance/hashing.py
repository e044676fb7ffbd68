"""Canonical JSON and the hashes of the audit chain and of evidence (pure)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

GENESIS_HASH = "0" * 64

# Keys of the evidence that change on every run without changing what a reviewer
# judges (the time the checks ran, elapsed durations); not part of the digest.
VOLATILE_EVIDENCE_KEYS = frozenset({"computed_at", "info"})


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return timestamp_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, UTF-8, no NaN."""
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_default,
    )


def json_normalized(value: Any) -> Any:
    """``value`` as it reads back from a JSON column (tuples → lists, dates → text)."""
    return json.loads(canonical_json(value))


def timestamp_text(value: datetime) -> str:
    """An aware datetime as UTC ISO text with microseconds."""
    if value.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def event_body(
    *,
    sequence: int,
    created_at: datetime,
    kind: str,
    actor: str,
    actor_id: int | None,
    model_name: str,
    alias: str,
    version: int | None,
    request_ref: int | None,
    payload: dict,
) -> dict:
    """The fields of an audit event that its hash covers."""
    return {
        "sequence": int(sequence),
        "created_at": timestamp_text(created_at),
        "kind": kind,
        "actor": actor,
        "actor_id": actor_id,
        "model_name": model_name,
        "alias": alias,
        "version": version,
        "request_ref": request_ref,
        "payload": payload,
    }


def event_hash(prev_hash: str, body: dict) -> str:
    """SHA-256 of the previous hash and the event's canonical JSON (the unkeyed
    chain of events written before the chain was keyed)."""
    text = prev_hash + "\n" + canonical_json(body)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def event_mac(key: bytes, key_id: str, prev_hash: str, body: dict) -> str:
    """HMAC-SHA256, under ``key``, of the key id, the previous hash and the
    event's canonical JSON. Without the key nobody can write a link that
    verifies, so recomputing the chain after a rewrite needs the key, which is
    held outside the database."""
    text = key_id + "\n" + prev_hash + "\n" + canonical_json(body)
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def link_hash(
    *, keys: dict[str, bytes], key_id: str, prev_hash: str, body: dict
) -> str | None:
    """The hash an event's link must have: keyed when ``key_id`` is set, plain
    SHA-256 for an unkeyed event; None when the key id is not in ``keys``."""
    if not key_id:
        return event_hash(prev_hash, body)
    key = keys.get(key_id)
    if key is None:
        return None
    return event_mac(key, key_id, prev_hash, body)


def _strip_volatile(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip_volatile(v)
            for k, v in value.items()
            if k not in VOLATILE_EVIDENCE_KEYS
        }
    if isinstance(value, list):
        return [_strip_volatile(v) for v in value]
    return value


def evidence_digest(evidence: dict) -> str:
    """SHA-256 of the evidence without its volatile parts."""
    text = canonical_json(_strip_volatile(evidence))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
