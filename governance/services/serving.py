"""Governance acts about serving, each one an audit event.

- ``serving_override_set``: the explicit override that lets a version whose
  model tests failed (or never ran) be served, or its revocation. Inference
  asks ``governance.selectors.serving_override_active`` before it loads such
  a version.
- ``alias_move_record``: move an alias in MLflow and record the move as
  Modelgate's, outside the request workflow, for an operator setting up a
  machine (benchmarks, bootstraps, tests). It is confirmed like an applied
  promotion (``governance.selectors.alias_confirmed``), and the ledger names
  who did it and why.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from core import registry
from core.exceptions import ApplicationError
from governance.choices import AuditKind
from governance.models import AuditEvent
from governance.selectors import model_version_get, serving_override_active
from governance.services.audit import audit_append
from governance.services.mirror import mirror_alias_set, model_lock

logger = logging.getLogger(__name__)


def serving_override_set(
    *, model_name: str, version: int, actor: Any, reason: str, grant: bool = True
) -> AuditEvent:
    """Grant (or with ``grant=False`` revoke) the serving override of
    ``model_name`` v``version``; the reason is required and kept in the ledger."""
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(
            "an override needs a reason",
            {"fields": {"reason": ["this field is required"]}},
            code="invalid_input",
        )
    if grant:
        try:
            rv = registry.version_get(model_name, version)
        except registry.RegistryNotFound as exc:
            raise ApplicationError(
                f"{model_name} v{version} is not registered",
                code="model_not_found",
                status_code=404,
            ) from exc
        test_status = (rv.tags or {}).get("modelgate.tests", "") or "untested"
    else:
        mirrored = model_version_get(name=model_name, version=version)
        test_status = mirrored.test_status if mirrored else ""
        if serving_override_active(model_name=model_name, version=version) is None:
            raise ApplicationError(
                f"{model_name} v{version} has no serving override to revoke",
                code="no_override",
                status_code=409,
            )
    with transaction.atomic():
        event = audit_append(
            kind=AuditKind.SERVING_OVERRIDE,
            actor=actor,
            model_name=model_name,
            version=version,
            payload={
                "action": "grant" if grant else "revoke",
                "reason": reason[:2000],
                "test_status": test_status,
            },
        )
    logger.warning(
        "serving override of %s v%s %s by %s: %s",
        model_name,
        version,
        "granted" if grant else "revoked",
        event.actor,
        reason,
    )
    return event


def alias_move_record(
    *, name: str, alias: str, version: int, actor: Any, reason: str
) -> None:
    """Point ``name@alias`` at ``version`` in MLflow and record it as a move by
    Modelgate (an ``alias_moved`` event with the reason), without a request."""
    registry.alias_set(name, alias, version)
    with transaction.atomic():
        model = model_lock(name=name)  # the reconciler compares under this lock
        mirror_alias_set(model=model, alias=alias, version=version)
        audit_append(
            kind=AuditKind.ALIAS_MOVED,
            actor=actor,
            model_name=name,
            alias=alias,
            version=version,
            payload={"reason": reason, "approved_by": []},
        )
