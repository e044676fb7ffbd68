"""Who may do what in governance: the one place the rules live.

Services call these before acting, so the API, the admin, management commands
and tasks obey the same rules. ``can_*`` answer a question; ``deny`` writes the
denial to the audit ledger and returns the error to raise. A denial is audited
in its own transaction, outside the action that was refused, so it survives the
rollback of that action.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from core.exceptions import PermissionDeniedError
from core.roles import Role
from governance.choices import AuditKind

if TYPE_CHECKING:
    from governance.models import PromotionPolicy, PromotionRequest

logger = logging.getLogger(__name__)

GOVERNANCE_ROLES = frozenset(
    {
        Role.REQUESTER,
        Role.STAGING_APPROVER,
        Role.PRODUCTION_APPROVER,
        Role.VIEWER,
        Role.OPS,
    }
)


class GovernanceDenied(PermissionDeniedError):
    """A governance rule refused the action (HTTP 403); the refusal is audited."""


def roles_of(user: Any) -> frozenset[str]:
    """Names of the role groups of ``user`` (cached on the user object)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return frozenset()
    cached = getattr(user, "_modelgate_roles", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True))
        user._modelgate_roles = cached
    return cached


def is_admin(user: Any) -> bool:
    return bool(
        getattr(user, "is_authenticated", False)
        and getattr(user, "is_superuser", False)
        and getattr(user, "is_active", False)
    )


def _active(user: Any) -> bool:
    return bool(
        getattr(user, "is_authenticated", False) and getattr(user, "is_active", False)
    )


def can_view(user: Any) -> bool:
    """Read requests, policies, the audit ledger and alias history: every
    governance role and admins (not plain API clients)."""
    return is_admin(user) or (_active(user) and bool(roles_of(user) & GOVERNANCE_ROLES))


def can_request(user: Any) -> bool:
    """Create promotion requests: requesters (data scientists) and admins."""
    return is_admin(user) or (_active(user) and Role.REQUESTER in roles_of(user))


def can_cancel(user: Any, request: PromotionRequest) -> bool:
    """Cancel a request: its requester or an admin."""
    return is_admin(user) or (_active(user) and request.requester_id == user.pk)


def can_review(user: Any, policy: PromotionPolicy) -> bool:
    """Approve or reject under ``policy``: members of its approver group; a
    superuser outside the group only when the policy says so."""
    if is_admin(user) and policy.superuser_may_approve:
        return True
    return _active(user) and policy.approver_group.name in roles_of(user)


def can_rollback(user: Any) -> bool:
    """Ask for a rollback of production: ops, production approvers, admins."""
    return is_admin(user) or (
        _active(user) and bool(roles_of(user) & {Role.OPS, Role.PRODUCTION_APPROVER})
    )


def can_emergency_rollback(user: Any) -> bool:
    """Roll production back at once, approval after the fact: ops and admins."""
    return is_admin(user) or (_active(user) and Role.OPS in roles_of(user))


def can_manage_policies(user: Any) -> bool:
    return is_admin(user)


def review_groups(user: Any) -> set[str]:
    """Approver groups whose requests ``user`` reviews; for a superuser also
    "*": the requests of policies that let superusers approve."""
    groups = set(roles_of(user) & {Role.STAGING_APPROVER, Role.PRODUCTION_APPROVER})
    if is_admin(user):
        groups.add("*")
    return groups


def deny(
    user: Any,
    *,
    action: str,
    reason: str,
    code: str = "permission_denied",
    request: PromotionRequest | None = None,
    model_name: str = "",
    via: str = "",
) -> GovernanceDenied:
    """Audit a refused action and return the error for the caller to raise."""
    from governance.services.audit import audit_append

    payload = {"action": action, "reason": reason, "code": code}
    if via:
        payload["via"] = via
    version = None
    if request is not None:
        model_name = model_name or request.registered_model.name
        version = request.model_version.version
        payload["target"] = request.target
        payload["status"] = request.status
    audit_append(
        kind=AuditKind.DENIED,
        actor=user,
        model_name=model_name,
        version=version,
        request_id=request.pk if request is not None else None,
        payload=payload,
    )
    logger.warning(
        "denied %s to %s: %s",
        action,
        getattr(user, "username", user),
        reason,
    )
    return GovernanceDenied(reason, code=code)
