from django.contrib.auth import views as auth_views
from django.http import JsonResponse
from django.views import View, defaults

from core.exceptions import error_body
from core.health import readiness
from core.throttling import LoginThrottle


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
    """Django's login view with failed attempts limited per address and username
    (setting LOGIN_THROTTLE); a blocked attempt gets 429 without checking the
    password."""

    template_name = "core/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        throttle = LoginThrottle()
        address = request.META.get("REMOTE_ADDR", "")
        username = request.POST.get("username", "")
        wait = throttle.blocked_for(address, username)
        if wait:
            form = self.get_form()
            form.errors.clear()
            form.add_error(
                None, f"Too many failed logins. Try again in {wait} seconds."
            )
            response = self.render_to_response(self.get_context_data(form=form))
            response.status_code = 429
            response["Retry-After"] = str(wait)
            return response
        response = super().post(request, *args, **kwargs)
        if response.status_code == 302:
            throttle.reset(address, username)
        else:
            throttle.record_failure(address, username)
        return response


def not_found(request, exception):
    """404 for an address no route matches: JSON under the API (its clients
    read JSON errors, as from every API view), Django's page elsewhere."""
    if request.path.startswith(("/api/", "/invocations")):
        return JsonResponse(
            error_body("not_found", "no such endpoint or object"), status=404
        )
    return defaults.page_not_found(request, exception)
