from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class CoreConfig(AppConfig):
    default = True  # the app's config (AdminConfig below is the admin's)
    name = "core"
    verbose_name = "Modelgate core"

    def ready(self) -> None:
        from core.broker import ensure_broker_dirs

        ensure_broker_dirs()


class AdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the throttled admin site as ``admin.site``."""

    default = False
    default_site = "core.admin_site.ThrottledAdminSite"
