"""Objects several checks need on the live stack, made through the real API.

A check that needs a pending promotion request gets one of its own model (a
copy of sms-spam v1 registered under another name in the MLflow server), so
the demo models' aliases and requests stay as the other checks expect them.
"""

from __future__ import annotations

import uuid


def spare_model(ctx, name: str) -> str:
    """Register ``name`` in the MLflow server as a copy of sms-spam v1 (once)."""
    from core import registry

    try:
        if registry.version_list(name):
            return name
    except registry.RegistryError:
        pass
    source = registry.version_get("sms-spam", 1)
    registry.version_register(
        name=name,
        model_uri=source.source,
        run_id=source.run_id,
        tags=dict(source.tags or {}),
        description="copy of sms-spam v1 for a reliability check",
    )
    return name


def open_staging_request(ctx, model: str | None = None, **extra) -> int:
    """A new pending request ``model`` v1 → staging by the requester (API);
    ``extra`` fields go into the body as they are. Returns its id."""
    model = model or spare_model(ctx, f"check-{uuid.uuid4().hex[:8]}")
    answer = ctx.request(
        "POST",
        "/api/governance/requests/",
        role="requester",
        body={
            "model": model,
            "version": 1,
            "target": "staging",
            "justification": "reliability check",
            **extra,
        },
    )
    ctx.expect(
        answer.status == 201,
        f"creating a request for {model} v1 answered {answer.status}: "
        f"{answer.body[:300]!r}",
    )
    return answer.json()["id"]
