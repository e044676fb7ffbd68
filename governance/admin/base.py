"""Shared pieces of the governance admin pages."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from governance import permissions


class ReadOnlyGovernanceAdmin(admin.ModelAdmin):
    """Visible to every governance role; no add, change or delete."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return permissions.can_view(request.user)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return permissions.can_view(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
