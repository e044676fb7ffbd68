from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core import views as core_views
from governance import views as governance_views

urlpatterns = [
    path("", governance_views.HomeView.as_view(), name="home"),
    path("health/live", core_views.LiveView.as_view(), name="health-live"),
    path("health/ready", core_views.ReadyView.as_view(), name="health-ready"),
    path("accounts/login/", core_views.ThrottledLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(
            url_name="api-schema", template_name="core/api_docs.html"
        ),
        name="api-docs",
    ),
    path("", include("governance.urls")),
    path("", include("inference.urls")),
    path("", include("monitoring.urls")),
    path("", include("trainer.urls")),
]

handler404 = core_views.not_found

admin.site.site_header = "Modelgate administration"
admin.site.site_title = "Modelgate"
admin.site.index_title = "Models, approvals and monitors"
