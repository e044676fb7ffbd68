"""Versioned promotion policies: an edit writes a new version."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Max

from core.exceptions import ApplicationError, NotFoundError
from governance import permissions
from governance.choices import AuditKind, CheckName, PolicyTarget
from governance.models import PromotionPolicy
from governance.services.audit import audit_append
from governance.services.comparison import evaluation_set_name_problem

logger = logging.getLogger(__name__)

EDITABLE = (
    "approver_group",
    "approvals_required",
    "requester_may_approve",
    "superuser_may_approve",
    "required_checks",
    "metric_gates",
    "evaluation_set",
    "expiry_hours",
    "min_staging_minutes",
    "emergency_confirm_hours",
    "note",
)


def policy_rules_validate(*, rules: dict[str, Any]) -> dict[str, list[str]]:
    """Field errors of a set of policy rules (empty when valid)."""
    errors: dict[str, list[str]] = {}
    checks = rules.get("required_checks", [])
    if not isinstance(checks, list) or any(c not in CheckName.values for c in checks):
        errors["required_checks"] = [f"a list of: {', '.join(CheckName.values)}"]
    gates = rules.get("metric_gates", [])
    if not isinstance(gates, list):
        errors["metric_gates"] = ["a list of gates"]
    else:
        for index, gate in enumerate(gates):
            if not isinstance(gate, dict) or not isinstance(gate.get("metric"), str):
                errors[f"metric_gates[{index}]"] = ["needs a 'metric' name"]
                continue
            if gate.get("direction", "higher") not in ("higher", "lower"):
                errors[f"metric_gates[{index}].direction"] = ["'higher' or 'lower'"]
            for key in ("threshold", "margin"):
                value = gate.get(key)
                if value is not None and not isinstance(value, int | float):
                    errors[f"metric_gates[{index}].{key}"] = ["a number"]
            if isinstance(gate.get("margin"), int | float) and gate["margin"] < 0:
                errors[f"metric_gates[{index}].margin"] = ["must not be negative"]
    evaluation_set = rules.get("evaluation_set") or ""
    if evaluation_set:
        problem = evaluation_set_name_problem(evaluation_set)
        if problem:
            errors["evaluation_set"] = [problem]
    required = rules.get("approvals_required", 1)
    if not isinstance(required, int) or required < 1:
        errors["approvals_required"] = ["at least 1"]
    return errors


def policy_update(
    *, user: Any, target: str, changes: dict[str, Any], via: str = ""
) -> PromotionPolicy:
    """Write a new version of the active policy of ``target`` with ``changes``
    (admins only); the old version stays for the requests bound to it."""
    if not permissions.can_manage_policies(user):
        raise permissions.deny(
            user,
            action="policy_update",
            reason="only admins may change promotion policies",
            via=via,
        )
    if target not in PolicyTarget.values:
        raise NotFoundError(f"no policy target {target!r}")
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ApplicationError(
            "these policy fields cannot be set",
            {"fields": {k: ["not editable"] for k in sorted(unknown)}},
        )
    with transaction.atomic():
        current = (
            PromotionPolicy.objects.select_for_update()
            .filter(target=target, is_active=True)
            .first()
        )
        rules = (
            {k: getattr(current, k) for k in EDITABLE} if current is not None else {}
        )
        rules.update(changes)
        if isinstance(rules.get("approver_group"), str):
            group = Group.objects.filter(name=rules["approver_group"]).first()
            if group is None:
                raise ApplicationError(
                    "unknown group",
                    {"fields": {"approver_group": ["no such group"]}},
                )
            rules["approver_group"] = group
        if rules.get("approver_group") is None:
            raise ApplicationError(
                "an approver group is required",
                {"fields": {"approver_group": ["required"]}},
            )
        errors = policy_rules_validate(rules=rules)
        if errors:
            raise ApplicationError("invalid policy", {"fields": errors})
        latest = (
            PromotionPolicy.objects.filter(target=target).aggregate(n=Max("version"))[
                "n"
            ]
            or 0
        )
        if current is not None:
            PromotionPolicy.objects.filter(pk=current.pk, is_active=True).update(
                is_active=False
            )
        policy = PromotionPolicy.objects.create(
            target=target,
            version=latest + 1,
            is_active=True,
            created_by=user if getattr(user, "pk", None) else None,
            **rules,
        )
        audit_append(
            kind=AuditKind.POLICY_CHANGED,
            actor=user,
            payload={
                "target": target,
                "from_version": current.version if current else None,
                "policy": policy.snapshot(),
                "via": via,
            },
        )
    logger.info("policy %s now at version %s", target, policy.version)
    return policy


def policy_variant_ensure(
    *, target: str, note: str, overrides: dict[str, Any]
) -> PromotionPolicy:
    """An inactive policy version = the active one with ``overrides``, identified
    by its note (created once, audited). Used by trusted commands such as the
    demo seed, so the ledger shows exactly which rules a request was judged by."""
    existing = PromotionPolicy.objects.filter(
        target=target, is_active=False, note=note
    ).first()
    if existing is not None:
        return existing
    active = PromotionPolicy.objects.get(target=target, is_active=True)
    rules = {k: getattr(active, k) for k in EDITABLE}
    rules.update(overrides, note=note)
    with transaction.atomic():
        latest = PromotionPolicy.objects.filter(target=target).aggregate(
            n=Max("version")
        )["n"]
        policy = PromotionPolicy.objects.create(
            target=target, version=latest + 1, is_active=False, **rules
        )
        audit_append(
            kind=AuditKind.POLICY_CHANGED,
            actor="system",
            payload={
                "target": target,
                "inactive_variant": True,
                "policy": policy.snapshot(),
            },
        )
    return policy


DEMO_PRODUCTION_NOTE = (
    "Demo value (manage.py seed_demo_policy): {minutes} minutes in staging so a "
    "newcomer sees a version reach production in minutes. The production "
    "default is 1,440 minutes (a day); set it back before real use."
)


def policy_demo_ensure(*, min_staging_minutes: int = 2) -> PromotionPolicy | None:
    """Make a demo production policy the active one, once: the default's rules
    with a minimum time in staging of a few minutes. Returns the new version, or
    None when a demo version was written before (an admin's later edits stand).
    """
    marker = DEMO_PRODUCTION_NOTE.split(":")[0]
    if PromotionPolicy.objects.filter(
        target=PolicyTarget.PRODUCTION, note__startswith=marker
    ).exists():
        return None
    with transaction.atomic():
        current = (
            PromotionPolicy.objects.select_for_update()
            .filter(target=PolicyTarget.PRODUCTION, is_active=True)
            .first()
        )
        if current is None:
            raise NotFoundError("no active production policy to start from")
        rules = {k: getattr(current, k) for k in EDITABLE}
        rules.update(
            min_staging_minutes=min_staging_minutes,
            note=DEMO_PRODUCTION_NOTE.format(minutes=min_staging_minutes),
        )
        latest = PromotionPolicy.objects.filter(
            target=PolicyTarget.PRODUCTION
        ).aggregate(n=Max("version"))["n"]
        PromotionPolicy.objects.filter(pk=current.pk).update(is_active=False)
        policy = PromotionPolicy.objects.create(
            target=PolicyTarget.PRODUCTION, version=latest + 1, is_active=True, **rules
        )
        audit_append(
            kind=AuditKind.POLICY_CHANGED,
            actor="system",
            payload={
                "target": PolicyTarget.PRODUCTION,
                "from_version": current.version,
                "policy": policy.snapshot(),
                "via": "seed_demo_policy",
            },
        )
    logger.info("demo production policy v%s is active", policy.version)
    return policy
