from django.urls import path

from inference import apis, edge_apis, edge_views, views

app_name = "inference"

urlpatterns = [
    # REST API
    path(
        "api/v1/models/<str:name>/predict",
        apis.PredictApi.as_view(),
        name="api-predict",
    ),
    path(
        "api/v1/models/<str:name>/edge",
        edge_apis.EdgeModelApi.as_view(),
        name="api-edge-model",
    ),
    path(
        "api/v1/models/<str:name>/edge/telemetry",
        edge_apis.EdgeTelemetryApi.as_view(),
        name="api-edge-telemetry",
    ),
    path("invocations", apis.InvocationsApi.as_view(), name="invocations"),
    path(
        "api/v1/predictions", apis.PredictionListApi.as_view(), name="api-predictions"
    ),
    path(
        "api/v1/predictions/<uuid:prediction_id>",
        apis.PredictionDetailApi.as_view(),
        name="api-prediction",
    ),
    path(
        "api/v1/predictions/<uuid:prediction_id>/feedback",
        apis.FeedbackApi.as_view(),
        name="api-feedback",
    ),
    path("api/v1/feedback", apis.BulkFeedbackApi.as_view(), name="api-feedback-bulk"),
    path("api/v1/batch-jobs", apis.BatchJobListApi.as_view(), name="api-batch-jobs"),
    path(
        "api/v1/batch-jobs/<uuid:job_id>",
        apis.BatchJobDetailApi.as_view(),
        name="api-batch-job",
    ),
    path(
        "api/v1/batch-jobs/<uuid:job_id>/results",
        apis.BatchJobResultsApi.as_view(),
        name="api-batch-job-results",
    ),
    # pages
    path("predict/spam", views.SpamFormView.as_view(), name="spam-form"),
    path("models/try", views.TryDefaultView.as_view(), name="try-default"),
    path("models/<str:name>/try", views.TryModelView.as_view(), name="try-model"),
    path("models/<str:name>/edge", edge_views.EdgePageView.as_view(), name="edge-page"),
    path(
        "models/<str:name>/edge-sw.js",
        edge_views.EdgeServiceWorkerView.as_view(),
        name="edge-sw",
    ),
    path("batch/", views.BatchListView.as_view(), name="batch-list"),
    path("batch/<uuid:job_id>", views.BatchDetailView.as_view(), name="batch-detail"),
    path(
        "batch/<uuid:job_id>/results",
        views.BatchResultsView.as_view(),
        name="batch-results",
    ),
]
