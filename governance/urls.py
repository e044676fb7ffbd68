from django.urls import path

from governance import apis, views

app_name = "governance"

API = "api/governance"

urlpatterns = [
    path("registry/", views.RegistryView.as_view(), name="registry"),
    path("registry/<str:name>/", views.ModelDetailView.as_view(), name="model-detail"),
    path(f"{API}/requests/", apis.RequestListCreateApi.as_view(), name="api-requests"),
    path(
        f"{API}/requests/<int:pk>/",
        apis.RequestDetailApi.as_view(),
        name="api-request-detail",
    ),
    path(
        f"{API}/requests/<int:pk>/cancel/",
        apis.RequestCancelApi.as_view(),
        name="api-request-cancel",
    ),
    path(
        f"{API}/requests/<int:pk>/approve/",
        apis.RequestApproveApi.as_view(),
        name="api-request-approve",
    ),
    path(
        f"{API}/requests/<int:pk>/reject/",
        apis.RequestRejectApi.as_view(),
        name="api-request-reject",
    ),
    path(
        f"{API}/requests/<int:pk>/confirm/",
        apis.RequestConfirmApi.as_view(),
        name="api-request-confirm",
    ),
    path(f"{API}/models/", apis.ModelListApi.as_view(), name="api-models"),
    path(
        f"{API}/models/<str:name>/rollback/",
        apis.RollbackApi.as_view(),
        name="api-rollback",
    ),
    path(
        f"{API}/models/<str:name>/emergency-rollback/",
        apis.EmergencyRollbackApi.as_view(),
        name="api-emergency-rollback",
    ),
    path(
        f"{API}/models/<str:name>/aliases/<str:alias>/history/",
        apis.AliasHistoryApi.as_view(),
        name="api-alias-history",
    ),
    path(f"{API}/audit-events/", apis.AuditEventListApi.as_view(), name="api-audit"),
    path(f"{API}/policies/", apis.PolicyListApi.as_view(), name="api-policies"),
    path(
        f"{API}/webhooks/mlflow/",
        apis.MlflowWebhookApi.as_view(),
        name="api-mlflow-webhook",
    ),
]
