"""Canonical JSON and the hashes of the audit chain and of evidence (pure)."""

from __future__ import annotations

import hashlib
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
    """SHA-256 of the previous hash and the event's canonical JSON."""
    text = prev_hash + "\n" + canonical_json(body)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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
