"""The reconciler: mirror MLflow, catch aliases moved behind Modelgate's back,
and finish applies that failed or were lost."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

from core import registry
from governance.choices import AuditKind, RequestStatus, Stage
from governance.models import RegisteredModel
from governance.selectors import (
    alias_desired,
    governed_aliases,
    promotion_request_list,
    stage_alias,
)
from governance.services import notifications
from governance.services.apply import promotion_apply_retry_due
from governance.services.audit import audit_append
from governance.services.mirror import (
    mirror_alias_delete,
    mirror_alias_set,
    registered_model_sync_report,
)

logger = logging.getLogger(__name__)

IN_FLIGHT = (RequestStatus.APPROVED, RequestStatus.APPLYING, RequestStatus.APPLY_FAILED)


@dataclass
class ReconcileReport:
    models: int = 0
    changes: dict[str, dict] = field(default_factory=dict)
    out_of_band: list[dict] = field(default_factory=list)
    applied: list[int] = field(default_factory=list)


def _in_flight_versions(model: RegisteredModel) -> dict[str, set[int]]:
    """Alias → versions an unfinished apply may already have written."""
    expected: dict[str, set[int]] = {}
    for request in promotion_request_list().filter(
        registered_model=model, status__in=IN_FLIGHT
    ):
        expected.setdefault(stage_alias(request.target), set()).add(
            request.model_version.version
        )
        if request.target == Stage.PRODUCTION and request.from_version is not None:
            expected.setdefault(stage_alias("previous"), set()).add(
                request.from_version
            )
    return expected


def alias_out_of_band_check(
    *, model: RegisteredModel, remote_aliases: dict[str, int]
) -> list[dict]:
    """Compare each governed alias in MLflow with the last state Modelgate
    recorded; audit and report every difference, and move the alias back when
    MODELGATE_REVERT_OUT_OF_BAND is on."""
    findings = []
    in_flight = _in_flight_versions(model)
    for alias in governed_aliases().values():
        known, desired = alias_desired(model_name=model.name, alias=alias)
        actual = remote_aliases.get(alias)
        if actual == desired or (not known and actual is None):
            continue
        if actual in in_flight.get(alias, ()):
            continue  # an apply in progress wrote it; the apply will record it
        revert = settings.GOVERNANCE["REVERT_OUT_OF_BAND"]
        revert_error = ""
        if revert:
            try:
                if desired is None:
                    registry.alias_delete(model.name, alias)
                else:
                    registry.alias_set(model.name, alias, desired)
            except registry.RegistryError as exc:
                revert_error = str(exc)
        reverted = revert and not revert_error
        finding = {
            "model": model.name,
            "alias": alias,
            "expected": desired,
            "actual": actual,
            "reverted": reverted,
            "revert_error": revert_error,
        }
        with transaction.atomic():
            audit_append(
                kind=AuditKind.ALIAS_OUT_OF_BAND,
                actor="mlflow",
                model_name=model.name,
                alias=alias,
                version=actual,
                payload={
                    "expected": desired,
                    "actual": actual,
                    "revert": revert,
                    "revert_error": revert_error,
                },
            )
            if reverted:
                audit_append(
                    kind=AuditKind.ALIAS_MOVED,
                    model_name=model.name,
                    alias=alias,
                    version=desired,
                    payload={"reason": "revert_out_of_band", "replaced": actual},
                )
                if desired is None:
                    mirror_alias_delete(model=model, alias=alias)
                else:
                    mirror_alias_set(model=model, alias=alias, version=desired)
            notifications.notify_ops_out_of_band(
                model_name=model.name,
                alias=alias,
                expected=desired,
                actual=actual,
                reverted=reverted,
            )
        logger.warning(
            "alias %s@%s changed outside Modelgate: expected %s, found %s (%s)",
            model.name,
            alias,
            desired,
            actual,
            "reverted" if reverted else "not reverted",
        )
        findings.append(finding)
    return findings


def registry_model_reconcile(*, name: str) -> tuple[dict, list[dict]]:
    """Sync one model and check its aliases; returns (changes, out-of-band).

    One transaction: the sync locks the model row before it settles on
    MLflow's aliases, and the comparison with the ledger runs under that lock,
    so an apply (which takes the same lock to record its move) is seen either
    wholly before or wholly after, never half-way."""
    with transaction.atomic():
        model, report = registered_model_sync_report(name=name)
        findings = alias_out_of_band_check(
            model=model, remote_aliases=report.remote_aliases
        )
    return (report.as_dict() if report.changed else {}), findings


def registry_reconcile_run() -> ReconcileReport:
    """One reconciliation pass (the periodic task). Raises RegistryError when
    MLflow cannot be listed; a model that fails alone is logged and skipped."""
    result = ReconcileReport()
    for remote in registry.model_list():
        result.models += 1
        try:
            changes, findings = registry_model_reconcile(name=remote.name)
        except registry.RegistryError as exc:
            logger.warning("reconciliation of %s skipped: %s", remote.name, exc)
            continue
        if changes:
            result.changes[remote.name] = changes
        result.out_of_band.extend(findings)
    result.applied = promotion_apply_retry_due()
    if result.changes or result.applied:
        audit_append(
            kind=AuditKind.RECONCILED,
            payload={
                "models": result.models,
                "changes": result.changes,
                "out_of_band": len(result.out_of_band),
                "applied_requests": result.applied,
            },
        )
    return result
