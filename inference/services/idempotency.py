"""Request ids: idempotency of prediction requests.

A request that carries a request id (a client's ``X-Request-ID``, a stream
entry id) has its response stored with its log rows, in one transaction; a
repeat gets the stored response, and nothing is predicted or logged again.
Request ids are unique per scope (a client, a stream); the same id with
another body is refused (409 ``request_id_reused``), told apart by a
fingerprint of the request.
"""

from __future__ import annotations

import hashlib
import json

from core.exceptions import ConflictError
from inference.models import StoredResponse
from inference.serving import ServedModel
from inference.validation import InputError, printable

MAX_REQUEST_ID_LENGTH = 128


def client_scope(client) -> str:
    """The id space of a client's request ids."""
    return f"u{client.pk}" if client is not None and client.pk else "anonymous"


def request_id_check(value: str | None) -> str | None:
    """A usable client request id, None when absent; 400 when malformed."""
    if value is None or value == "":
        return None
    if len(value) > MAX_REQUEST_ID_LENGTH or not value.isprintable():
        raise InputError(
            "X-Request-ID must be printable and at most "
            f"{MAX_REQUEST_ID_LENGTH} characters",
            {"fields": {"X-Request-ID": ["invalid request id"]}},
        )
    return value


def payload_fingerprint(*, name: str, alias: str, version: int | None, payload) -> str:
    canonical = json.dumps(
        [name, alias, version, payload], sort_keys=True, ensure_ascii=True
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def stored_responses_find(*, scope: str, request_ids: list[str]) -> dict[str, dict]:
    """The stored responses of ``request_ids`` in ``scope``, by request id."""
    return dict(
        StoredResponse.objects.filter(
            scope=scope, request_id__in=request_ids
        ).values_list("request_id", "response")
    )


def stored_response_replay(stored: dict, *, request_id: str, fingerprint: str) -> dict:
    """The body to answer a repeated request with; 409 ``request_id_reused``
    when the id was first used with another body."""
    if stored.get("_fingerprint") not in (None, fingerprint):
        raise ConflictError(
            f"request id {printable(request_id)} was already used for a different "
            "request",
            {"fields": {"X-Request-ID": ["already used with another body"]}},
            code="request_id_reused",
        )
    return {k: v for k, v in stored.items() if k != "_fingerprint"}


def stored_response_build(
    *,
    scope: str,
    request_id: str,
    served: ServedModel,
    body: dict,
    fingerprint: str,
    created_at,
) -> StoredResponse:
    """The unsaved stored response of an answered request."""
    return StoredResponse(
        scope=scope,
        request_id=request_id,
        model_name=served.name,
        model_version=served.version,
        response={**body, "_fingerprint": fingerprint},
        created_at=created_at,
    )


def stored_response_get(
    *, scope: str, request_id: str, fingerprint: str
) -> dict | None:
    """The body a repeated request is answered with, None for a new request id."""
    stored = stored_responses_find(scope=scope, request_ids=[request_id])
    if request_id not in stored:
        return None
    return stored_response_replay(
        stored[request_id], request_id=request_id, fingerprint=fingerprint
    )
