"""Read-only registry pages for every signed-in user."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404
from django.urls import reverse
from django.views.generic import TemplateView

from core.metric_names import metric_keys
from core.pages import model_sections
from governance import permissions
from governance.choices import OPEN_STATUSES
from governance.selectors import (
    alias_timeline,
    emergency_rollbacks_unconfirmed,
    governed_aliases,
    promotion_request_list,
    registered_model_get,
    registered_model_list,
    review_queue,
)


class HomeView(LoginRequiredMixin, TemplateView):
    """Registered models and their versions with metrics and test status."""

    template_name = "governance/home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        models = list(registered_model_list())
        for model in models:
            model.version_rows = list(model.versions.all())
            model.metric_names = metric_keys(v.metrics for v in model.version_rows)
        context["models"] = models
        return context


class RegistryView(LoginRequiredMixin, TemplateView):
    """Every registered model with its aliases, latest version and open requests."""

    template_name = "governance/registry.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        models = list(registered_model_list())
        open_counts: dict[str, int] = {}
        for request in promotion_request_list().filter(status__in=OPEN_STATUSES):
            name = request.registered_model.name
            open_counts[name] = open_counts.get(name, 0) + 1
        for model in models:
            model.open_requests = open_counts.get(model.name, 0)
            model.latest = next(iter(model.versions.all()), None)
        context.update(
            models=models,
            unconfirmed=list(emergency_rollbacks_unconfirmed()),
            can_review=bool(permissions.review_groups(self.request.user)),
        )
        return context


class ModelDetailView(LoginRequiredMixin, TemplateView):
    """One model: aliases, version history with metrics, alias timeline, requests."""

    template_name = "governance/model_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        name = self.kwargs["name"]
        model = registered_model_get(name=name)
        if model is None:
            raise Http404(f"no registered model {name!r}")
        aliases = governed_aliases()
        timelines = [
            {"alias": alias, "segments": alias_timeline(model_name=name, alias=alias)}
            for alias in (
                aliases["production"],
                aliases["staging"],
                aliases["previous"],
            )
        ]
        versions = list(model.versions.all())
        by_version: dict[int, list[str]] = {}
        for link in model.aliases.all():
            by_version.setdefault(link.version.version, []).append(link.alias)
        for version in versions:
            version.alias_names = sorted(by_version.get(version.version, []))
        metric_names = metric_keys(v.metrics for v in versions)
        context.update(
            model=model,
            actions=self._actions(name),
            versions=versions,
            metric_names=metric_names,
            timelines=timelines,
            requests=list(promotion_request_list().filter(registered_model=model)[:50]),
            unconfirmed=list(emergency_rollbacks_unconfirmed(model_name=name)),
            sections=model_sections(request=self.request, model_name=name),
        )
        return context

    def _actions(self, name: str) -> list[dict]:
        """Links to what the signed-in user's roles allow on this model."""
        user = self.request.user
        actions = []
        if permissions.can_request(user):
            actions.append(
                {
                    "key": "request",
                    "title": "Request a promotion",
                    "url": reverse("admin:governance_promotionrequest_add")
                    + "?"
                    + urlencode({"model": name}),
                }
            )
        if permissions.review_groups(user):
            waiting = review_queue(user=user).filter(registered_model__name=name)
            count = waiting.count()
            actions.append(
                {
                    "key": "review",
                    "title": "Review its requests",
                    "url": reverse("admin:governance_promotionrequest_changelist")
                    + "?queue=mine",
                    "note": f"{count} await{'s' if count == 1 else ''} your decision",
                }
            )
        return actions
