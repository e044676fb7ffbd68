from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import JsonResponse
from django.views import View
from django.views.generic import TemplateView

from core.health import readiness
from governance.selectors import registered_model_list


class LiveView(View):
    """Liveness: the process answers HTTP. No dependency is touched."""

    def get(self, request):
        return JsonResponse({"status": "ok"})


class ReadyView(View):
    """Readiness: database, broker and MLflow reachable (503 if the database is not).

    The broker and MLflow being down degrade the service (serving continues from
    the model cache and the log); only the database makes it unable to serve.
    """

    def get(self, request):
        checks = readiness()
        database_ok = checks["database"]["status"] == "ok"
        degraded = any(c["status"] != "ok" for c in checks.values())
        body = {
            "status": "ok" if not degraded else ("degraded" if database_ok else "down"),
            "checks": checks,
        }
        return JsonResponse(body, status=200 if database_ok else 503)


class HomeView(LoginRequiredMixin, TemplateView):
    """Registered models and their versions with metrics and test status."""

    template_name = "core/home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["models"] = registered_model_list()
        return context
