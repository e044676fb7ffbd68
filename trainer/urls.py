from django.urls import path

from trainer import apis

app_name = "trainer"

API = "api/retraining"

urlpatterns = [
    path(
        f"{API}/models/<str:name>/runs/",
        apis.RunListStartApi.as_view(),
        name="api-runs",
    ),
    path(
        f"{API}/models/<str:name>/runs/<int:pk>/",
        apis.RunDetailApi.as_view(),
        name="api-run",
    ),
]
