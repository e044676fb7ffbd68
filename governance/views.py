"""Read-only registry pages for every signed-in user."""

from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404
from django.views.generic import TemplateView

from governance import permissions
from governance.choices import OPEN_STATUSES
from governance.selectors import (
    alias_timeline,
    emergency_rollbacks_unconfirmed,
    governed_aliases,
    promotion_request_list,
    registered_model_get,
    registered_model_list,
)


class HomeView(LoginRequiredMixin, TemplateView):
    """Registered models and their versions with metrics and test status."""

    template_name = "governance/home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["models"] = registered_model_list()
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
        metric_names = sorted(
            {
                k
                for v in versions
                for k in v.metrics
                if not k.startswith(("cm_", "rows_"))
            }
        )
        context.update(
            model=model,
            versions=versions,
            metric_names=metric_names,
            timelines=timelines,
            requests=list(promotion_request_list().filter(registered_model=model)[:50]),
            unconfirmed=list(emergency_rollbacks_unconfirmed(model_name=name)),
        )
        return context
