from django.urls import path

from monitoring import apis, views
from monitoring.metrics import MetricsView

app_name = "monitoring"

urlpatterns = [
    path("monitoring/", views.OverviewView.as_view(), name="overview"),
    path(
        "monitoring/models/<str:name>/",
        views.ModelDashboardView.as_view(),
        name="model-dashboard",
    ),
    path(
        "monitoring/models/<str:name>/compare/",
        views.CompareView.as_view(),
        name="compare",
    ),
    path(
        "monitoring/reports/<int:pk>/",
        views.ReportDetailView.as_view(),
        name="report-detail",
    ),
    path(
        "monitoring/reports/<int:pk>/html",
        views.ReportHtmlView.as_view(),
        name="report-html",
    ),
    path(
        "monitoring/alerts/<int:pk>/acknowledge",
        views.AlertActionView.as_view(action="acknowledge"),
        name="alert-acknowledge",
    ),
    path(
        "monitoring/alerts/<int:pk>/snooze",
        views.AlertActionView.as_view(action="snooze"),
        name="alert-snooze",
    ),
    path(
        "monitoring/predictions/<uuid:prediction_id>/",
        views.PredictionDetailView.as_view(),
        name="prediction-detail",
    ),
    path("metrics", MetricsView.as_view(), name="metrics"),
    # API
    path(
        "api/monitoring/monitors/",
        apis.MonitorListApi.as_view(),
        name="api-monitors",
    ),
    path(
        "api/monitoring/monitors/<int:pk>/reports/",
        apis.ReportRunApi.as_view(),
        name="api-report-run",
    ),
    path(
        "api/monitoring/monitors/<int:pk>/compare/",
        apis.CompareApi.as_view(),
        name="api-compare",
    ),
    path(
        "api/monitoring/reports/<int:pk>/",
        apis.ReportDetailApi.as_view(),
        name="api-report",
    ),
    path("api/monitoring/alerts/", apis.AlertListApi.as_view(), name="api-alerts"),
    path(
        "api/monitoring/alerts/<int:pk>/acknowledge/",
        apis.AlertAcknowledgeApi.as_view(),
        name="api-alert-acknowledge",
    ),
    path(
        "api/monitoring/alerts/<int:pk>/snooze/",
        apis.AlertSnoozeApi.as_view(),
        name="api-alert-snooze",
    ),
]
