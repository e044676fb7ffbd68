"""The admin site, with its login form behind the one login throttle
(core.throttling) like the site's own login page."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _

from core.throttling import throttled_login, too_many_text


class ThrottledAdminSite(admin.AdminSite):
    """Django's admin site whose login POSTs are throttled per address and
    username; a refused attempt gets the login page with the reason, 429."""

    def login(self, request, extra_context=None):
        check = super().login
        if request.method != "POST":
            return check(request, extra_context)

        def refuse(wait: int) -> TemplateResponse:
            # an unbound form: a bound one would check the password to show
            # its own errors
            form = AdminAuthenticationForm(
                request, initial={"username": request.POST.get("username", "")}
            )
            form.cleaned_data = {}  # add_error needs it; nothing was cleaned
            form.add_error(None, too_many_text(wait))
            request.current_app = self.name
            context = {
                **self.each_context(request),
                "title": _("Log in"),
                "subtitle": None,
                "app_path": request.get_full_path(),
                "form": form,
                REDIRECT_FIELD_NAME: request.POST.get(REDIRECT_FIELD_NAME)
                or reverse("admin:index", current_app=self.name),
                **(extra_context or {}),
            }
            return TemplateResponse(
                request, self.login_template or "admin/login.html", context
            )

        return throttled_login(request, lambda: check(request, extra_context), refuse)
