"""The review queue: pending requests for the reviewer's groups, a review page
with the evidence beside the champion's, and approve / reject / cancel /
confirm through the services."""

from __future__ import annotations

import logging

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from core.exceptions import ApplicationError
from core.templatetags.core_tags import local_time
from governance import permissions
from governance.admin.base import ReadOnlyGovernanceAdmin
from governance.choices import (
    OPEN_STATUSES,
    ChecksStatus,
    RequestKind,
    RequestStatus,
    Stage,
    TestStatus,
)
from governance.models import ModelVersion, PromotionRequest
from governance.selectors import (
    promotion_request_get,
    registered_model_list,
    review_queue,
)
from governance.services.approvals import (
    emergency_rollback_confirm,
    promotion_approve,
    promotion_reject,
)
from governance.services.requests import (
    promotion_request_cancel,
    promotion_request_create,
)

logger = logging.getLogger(__name__)

FORM = "admin-form"
ACTION = "admin-action"


class QueueFilter(admin.SimpleListFilter):
    """Reviewers land on their own queue; everyone can widen the view."""

    title = "queue"
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return [
            ("mine", "Awaiting my review"),
            ("open", "All open"),
            ("all", "All"),
        ]

    def value(self):
        value = super().value()
        if value is None:
            return "mine" if permissions.review_groups(self.request.user) else "all"
        return value

    def queryset(self, request, queryset):
        self.request = request
        value = self.value()
        if value == "mine":
            mine = review_queue(user=request.user).values("pk")
            return queryset.filter(pk__in=mine)
        if value == "open":
            return queryset.filter(status__in=OPEN_STATUSES)
        return queryset

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string(
                    {self.parameter_name: lookup}
                ),
                "display": title,
            }

    def __init__(self, request, params, model, model_admin):
        self.request = request
        super().__init__(request, params, model, model_admin)


def version_choices(models) -> list[tuple[str, list[tuple[int, str]]]]:
    """The request form's version list: versions whose tests passed first,
    then the others; each labelled with its test status and aliases, newest
    first within a model."""
    passed, others = [], []
    for model in models:
        aliases: dict[int, list[str]] = {}
        for link in model.aliases.all():
            aliases.setdefault(link.version.version, []).append(f"@{link.alias}")
        for version in model.versions.all():
            label = (
                f"{model.name} v{version.version} · tests "
                f"{version.get_test_status_display().lower()}"
            )
            if aliases.get(version.version):
                label += " · " + " ".join(sorted(aliases[version.version]))
            group = passed if version.test_status == TestStatus.PASSED else others
            group.append((version.pk, label))
    groups = []
    if passed:
        groups.append(("Tests passed", passed))
    if others:
        groups.append(("Tests failed or not run", others))
    return groups


class RequestAddForm(forms.Form):
    model_version = forms.TypedChoiceField(
        coerce=int,
        help_text="The version to promote: tested versions are listed first, "
        "with the aliases they hold now.",
    )
    target = forms.ChoiceField(choices=Stage.choices)
    justification = forms.CharField(widget=forms.Textarea, max_length=4000)

    def __init__(self, *args, model_name: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        models = list(registered_model_list())
        self.fields["model_version"].choices = [("", "---------")] + version_choices(
            models
        )
        if model_name and not self.is_bound:
            self.initial.setdefault(
                "model_version", _suggested_version(models, model_name)
            )

    def clean_model_version(self) -> ModelVersion:
        pk = self.cleaned_data["model_version"]
        found = (
            ModelVersion.objects.select_related("registered_model")
            .filter(pk=pk)
            .first()
        )
        if found is None:
            raise forms.ValidationError("That version is no longer registered.")
        return found


def _suggested_version(models, model_name: str) -> int | None:
    """The newest tested version of ``model_name`` that holds no alias yet."""
    for model in models:
        if model.name != model_name:
            continue
        held = {link.version.version for link in model.aliases.all()}
        for version in model.versions.all():
            if version.test_status == TestStatus.PASSED and version.version not in held:
                return version.pk
    return None


@admin.register(PromotionRequest)
class PromotionRequestAdmin(ReadOnlyGovernanceAdmin):
    # few, wide columns: the queue fits 1,280 px beside the filter panel
    list_display = [
        "summary",
        "status_badge",
        "approvals_progress",
        "requester",
        "created",
    ]
    list_display_links = ["summary"]
    list_filter = [QueueFilter, "status", "target", "kind"]
    search_fields = ["registered_model__name", "requester__username", "justification"]
    actions = ["approve_selected", "cancel_selected"]
    ordering = ["-created_at"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related(
                "registered_model",
                "model_version",
                "requester",
                "policy__approver_group",
            )
            .prefetch_related("approvals")
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return permissions.can_request(request.user)

    # ----------------------------------------------------------- columns
    @admin.display(description="request", ordering="registered_model__name")
    def summary(self, obj):
        promotion = obj.kind == RequestKind.PROMOTION
        kind = "" if promotion else f" ({obj.get_kind_display()})"
        return (
            f"#{obj.pk} {obj.registered_model.name} v{obj.model_version.version}"
            f" → {obj.target}{kind}"
        )

    @admin.display(description="status · checks", ordering="status")
    def status_badge(self, obj):
        flag = " ⚠ unconfirmed" if obj.needs_confirmation else ""
        return f"{obj.get_status_display()}{flag} · {obj.get_checks_status_display()}"

    @admin.display(description="created", ordering="created_at")
    def created(self, obj):
        return local_time(obj.created_at)

    @admin.display(description="approvals")
    def approvals_progress(self, obj):
        fresh = sum(
            1 for a in obj.approvals.all() if a.decision == "approve" and not a.is_stale
        )
        return f"{fresh}/{obj.policy.approvals_required}"

    # ----------------------------------------------------------- actions
    def _act_on_many(self, request, queryset, verb, call):
        denied, conflicts, done = [], [], []
        for obj in queryset:
            try:
                call(obj)
                done.append(obj.pk)
            except permissions.GovernanceDenied as exc:
                denied.append(f"#{obj.pk}: {exc.message}")
            except ApplicationError as exc:
                conflicts.append(f"#{obj.pk}: {exc.message}")
        if done:
            ids = ", ".join(f"#{i}" for i in done)
            self.message_user(request, f"{verb}: {ids}", messages.SUCCESS)
        for text in conflicts:
            self.message_user(request, text, messages.WARNING)
        if denied:
            return TemplateResponse(
                request,
                "governance/admin/denied.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Not allowed",
                    "reasons": denied,
                    "back": reverse("admin:governance_promotionrequest_changelist"),
                },
                status=403,
            )
        return None

    @admin.action(description="Approve the selected requests")
    def approve_selected(self, request, queryset):
        return self._act_on_many(
            request,
            queryset,
            "approved",
            lambda obj: promotion_approve(
                request_id=obj.pk,
                user=request.user,
                comment="approved from the review queue",
                via=ACTION,
            ),
        )

    @admin.action(description="Cancel the selected requests")
    def cancel_selected(self, request, queryset):
        return self._act_on_many(
            request,
            queryset,
            "cancelled",
            lambda obj: promotion_request_cancel(
                request_id=obj.pk, user=request.user, via=ACTION
            ),
        )

    # ------------------------------------------------------------- pages
    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            denied = permissions.deny(
                request.user,
                action="request_create",
                reason="only requesters may request promotions",
                via=FORM,
            )
            raise PermissionDenied(denied.message)
        existing_url = ""
        form = RequestAddForm(
            request.POST or None,
            model_name=request.GET.get("model", ""),
            initial={"target": request.GET.get("target", Stage.STAGING)},
        )
        status = 200
        if request.method == "POST" and form.is_valid():
            mv = form.cleaned_data["model_version"]
            try:
                created = promotion_request_create(
                    user=request.user,
                    model_name=mv.registered_model.name,
                    version=mv.version,
                    target=form.cleaned_data["target"],
                    justification=form.cleaned_data["justification"],
                    via=FORM,
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
                status = exc.status_code
                existing = exc.extra.get("request_id")
                if existing:
                    existing_url = reverse(
                        "admin:governance_promotionrequest_change", args=[existing]
                    )
            else:
                self.message_user(request, f"Request #{created.pk} created.")
                return HttpResponseRedirect(
                    reverse(
                        "admin:governance_promotionrequest_change", args=[created.pk]
                    )
                )
        context = {
            **self.admin_site.each_context(request),
            "title": "Request a promotion",
            "form": form,
            "existing_url": existing_url,
            "opts": self.model._meta,
        }
        return TemplateResponse(
            request, "governance/admin/request_add.html", context, status=status
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The review page (GET) and the decisions taken on it (POST)."""
        if not self.has_view_permission(request):
            denied = permissions.deny(
                request.user,
                action="read a promotion request",
                reason="only governance roles may read requests",
                via=FORM,
            )
            raise PermissionDenied(denied.message)
        obj = (
            promotion_request_get(request_id=int(object_id))
            if object_id.isdigit()
            else None
        )
        if obj is None:
            raise Http404(f"no promotion request {object_id}")
        status, error = 200, ""
        if request.method == "POST":
            decision = request.POST.get("decision", "")
            comment = request.POST.get("comment", "").strip()[:4000]
            try:
                self._decide(request, obj, decision, comment)
            except permissions.GovernanceDenied as exc:
                status, error = 403, exc.message
            except ApplicationError as exc:
                status, error = exc.status_code, exc.message
            else:
                return HttpResponseRedirect(request.path)
            obj = promotion_request_get(request_id=obj.pk)
        return TemplateResponse(
            request,
            "governance/admin/review.html",
            self._review_context(request, obj, error),
            status=status,
        )

    def _decide(self, request, obj, decision: str, comment: str) -> None:
        user = request.user
        if decision == "approve":
            promotion_approve(
                request_id=obj.pk,
                user=user,
                comment=comment,
                evidence_digest=request.POST.get("evidence_digest") or None,
                via=FORM,
            )
            self.message_user(request, f"You approved request #{obj.pk}.")
        elif decision == "reject":
            if not comment:
                raise ApplicationError("a comment is required to reject")
            promotion_reject(request_id=obj.pk, user=user, comment=comment, via=FORM)
            self.message_user(request, f"You rejected request #{obj.pk}.")
        elif decision == "cancel":
            promotion_request_cancel(
                request_id=obj.pk, user=user, reason=comment, via=FORM
            )
            self.message_user(request, f"Request #{obj.pk} cancelled.")
        elif decision == "confirm":
            emergency_rollback_confirm(
                request_id=obj.pk, user=user, comment=comment, via=FORM
            )
            self.message_user(request, f"Emergency rollback #{obj.pk} confirmed.")
        else:
            raise ApplicationError(f"unknown decision {decision!r}")

    def _review_context(self, request, obj: PromotionRequest, error: str) -> dict:
        from governance.admin.evidence import evidence_view

        user = request.user
        can_review = permissions.can_review(user, obj.policy)
        own = obj.requester_id == user.pk and not obj.policy.requester_may_approve
        return {
            **self.admin_site.each_context(request),
            "title": f"Request #{obj.pk}: {obj.registered_model.name} "
            f"v{obj.model_version.version} → {obj.target}",
            "opts": self.model._meta,
            "original": obj,
            "req": obj,
            "error": error,
            "evidence": evidence_view(obj),
            "approvals": list(obj.approvals.all()),
            # approving needs passed checks: no button that would answer 409
            "can_decide": obj.status == RequestStatus.PENDING
            and can_review
            and not own,
            "can_approve": obj.status == RequestStatus.PENDING
            and obj.checks_status == ChecksStatus.PASSED
            and can_review
            and not own,
            "own_request": own,
            "can_cancel": obj.status
            in (
                RequestStatus.PENDING,
                RequestStatus.APPROVED,
                RequestStatus.APPLY_FAILED,
            )
            and permissions.can_cancel(user, obj),
            "can_confirm": obj.needs_confirmation
            and can_review
            and obj.requester_id != user.pk,
            "model_admin_url": reverse(
                "admin:governance_registeredmodel_change",
                args=[obj.registered_model_id],
            ),
        }
