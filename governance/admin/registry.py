"""The model page in the admin: versions, alias timeline, requests, rollback."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse

from core.exceptions import ApplicationError
from governance import permissions
from governance.admin.base import ReadOnlyGovernanceAdmin
from governance.models import RegisteredModel
from governance.selectors import (
    alias_timeline,
    emergency_rollbacks_unconfirmed,
    governed_aliases,
    promotion_request_list,
    registered_model_list,
)
from governance.services.rollback import (
    promotion_emergency_rollback,
    promotion_rollback_request,
)

FORM = "admin-form"


@admin.register(RegisteredModel)
class RegisteredModelAdmin(ReadOnlyGovernanceAdmin):
    list_display = ["name", "task", "alias_summary", "version_count", "last_synced_at"]
    search_fields = ["name"]

    def get_queryset(self, request):
        return registered_model_list()

    @admin.display(description="aliases")
    def alias_summary(self, obj):
        return ", ".join(
            f"@{link.alias} → v{link.version.version}" for link in obj.aliases.all()
        )

    @admin.display(description="versions")
    def version_count(self, obj):
        return len(obj.versions.all())

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if not self.has_view_permission(request):
            denied = permissions.deny(
                request.user,
                action="read the registry",
                reason="only governance roles may read the registry",
                via=FORM,
            )
            raise PermissionDenied(denied.message)
        model = (
            registered_model_list().filter(pk=object_id).first()
            if str(object_id).isdigit()
            else None
        )
        if model is None:
            raise Http404(f"no registered model {object_id}")
        status, error = 200, ""
        if request.method == "POST":
            action = request.POST.get("action", "")
            justification = request.POST.get("justification", "").strip()[:4000]
            try:
                if action == "rollback":
                    created = promotion_rollback_request(
                        user=request.user,
                        model_name=model.name,
                        justification=justification,
                        via=FORM,
                    )
                    self.message_user(
                        request, f"Rollback request #{created.pk} created."
                    )
                elif action == "emergency_rollback":
                    created = promotion_emergency_rollback(
                        user=request.user,
                        model_name=model.name,
                        justification=justification,
                        via=FORM,
                    )
                    state = created.get_status_display()
                    self.message_user(
                        request, f"Emergency rollback #{created.pk}: {state}."
                    )
                else:
                    raise ApplicationError(f"unknown action {action!r}")
            except permissions.GovernanceDenied as exc:
                status, error = 403, exc.message
            except ApplicationError as exc:
                status, error = exc.status_code, exc.message
            else:
                return HttpResponseRedirect(request.path)
            model = registered_model_list().filter(pk=model.pk).first()
        aliases = governed_aliases()
        versions = list(model.versions.all())
        by_version: dict[int, list[str]] = {}
        for link in model.aliases.all():
            by_version.setdefault(link.version.version, []).append(link.alias)
        for version in versions:
            version.alias_names = sorted(by_version.get(version.version, []))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Model {model.name}",
            "opts": self.model._meta,
            "original": model,
            "model": model,
            "versions": versions,
            "metric_names": sorted(
                {
                    k
                    for v in versions
                    for k in v.metrics
                    if not k.startswith(("cm_", "rows_"))
                }
            ),
            "timelines": [
                {"alias": a, "segments": alias_timeline(model_name=model.name, alias=a)}
                for a in (
                    aliases["production"],
                    aliases["staging"],
                    aliases["previous"],
                )
            ],
            "requests": list(
                promotion_request_list().filter(registered_model=model)[:50]
            ),
            "unconfirmed": list(emergency_rollbacks_unconfirmed(model_name=model.name)),
            "can_rollback": permissions.can_rollback(request.user),
            "can_emergency": permissions.can_emergency_rollback(request.user),
            "error": error,
        }
        return TemplateResponse(
            request, "governance/admin/model.html", context, status=status
        )
