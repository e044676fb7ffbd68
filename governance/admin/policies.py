"""Promotion policies in the admin (admins only). Saving writes a new version
through governance.services.policies; old versions stay read-only."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from core.exceptions import ApplicationError
from governance import permissions
from governance.models import PromotionPolicy
from governance.services.policies import EDITABLE, policy_rules_validate, policy_update


class PolicyForm(forms.ModelForm):
    class Meta:
        model = PromotionPolicy
        fields = ["target", *EDITABLE]

    def clean(self):
        data = super().clean()
        for field, problems in policy_rules_validate(rules=data).items():
            name = field.split("[")[0].split(".")[0]
            self.add_error(name if name in self.fields else None, "; ".join(problems))
        return data


@admin.register(PromotionPolicy)
class PromotionPolicyAdmin(admin.ModelAdmin):
    form = PolicyForm
    list_display = [
        "target",
        "version",
        "is_active",
        "approver_group",
        "approvals_required",
        "requester_may_approve",
        "superuser_may_approve",
        "expiry_hours",
        "created_at",
    ]
    list_filter = ["target", "is_active"]
    ordering = ["target", "-version"]

    def has_module_permission(self, request) -> bool:
        return permissions.can_view(request.user)

    def has_view_permission(self, request, obj=None) -> bool:
        return permissions.can_view(request.user)

    def has_add_permission(self, request) -> bool:
        return permissions.can_manage_policies(request.user)

    def has_change_permission(self, request, obj=None) -> bool:
        # only the active version can be edited (into a new version)
        return permissions.can_manage_policies(request.user) and (
            obj is None or obj.is_active
        )

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_readonly_fields(self, request, obj=None):
        return ["target"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        changes = {k: form.cleaned_data[k] for k in EDITABLE if k in form.cleaned_data}
        try:
            new = policy_update(
                user=request.user,
                target=obj.target,
                changes=changes,
                via="admin-form",
            )
        except ApplicationError as exc:  # validated by the form already
            raise ValueError(exc.message) from exc
        obj.pk, obj.version, obj.is_active = new.pk, new.version, True
        obj._state.adding = False

    def save_related(self, request, form, formsets, change):
        """Nothing related to save: policy_update wrote the new version."""
