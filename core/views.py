from django.contrib.auth import views as auth_views
from django.http import JsonResponse
from django.views import View, defaults

from core.exceptions import error_body
from core.health import readiness
from core.throttling import throttled_login, too_many_text


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


class ThrottledLoginView(auth_views.LoginView):
    """Django's login view behind the one login throttle (core.throttling,
    setting LOGIN_THROTTLE); a refused attempt gets 429 without checking the
    password."""

    template_name = "core/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        def refuse(wait: int):
            # an unbound form: a bound one would check the password to show
            # its own errors
            form = self.get_form_class()(
                request, initial={"username": request.POST.get("username", "")}
            )
            form.cleaned_data = {}  # add_error needs it; nothing was cleaned
            form.add_error(None, too_many_text(wait))
            return self.render_to_response(self.get_context_data(form=form))

        return throttled_login(
            request, lambda: super(ThrottledLoginView, self).post(request), refuse
        )


def not_found(request, exception):
    """404 for an address no route matches: JSON under the API (its clients
    read JSON errors, as from every API view), Django's page elsewhere."""
    if request.path.startswith(("/api/", "/invocations")):
        return JsonResponse(
            error_body("not_found", "no such endpoint or object"), status=404
        )
    return defaults.page_not_found(request, exception)
