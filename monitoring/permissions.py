"""Who may see and operate monitoring (Django groups of governance.choices.Role)."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from core.roles import Role

VIEW_ROLES = {
    Role.VIEWER,
    Role.OPS,
    Role.REQUESTER,
    Role.STAGING_APPROVER,
    Role.PRODUCTION_APPROVER,
}


def _groups(user) -> set[str]:
    if not hasattr(user, "_mg_groups"):
        user._mg_groups = set(user.groups.values_list("name", flat=True))
    return user._mg_groups


def can_view(user) -> bool:
    """Dashboards and reports: staff and every people role (not API clients)."""
    if not user.is_authenticated:
        return False
    return user.is_superuser or user.is_staff or bool(_groups(user) & VIEW_ROLES)


def can_operate(user) -> bool:
    """Run reports, acknowledge and snooze alerts: ops and admins."""
    if not user.is_authenticated:
        return False
    return user.is_superuser or Role.OPS in _groups(user)


class CanView(BasePermission):
    def has_permission(self, request, view) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return can_view(request.user)
        return can_operate(request.user)
