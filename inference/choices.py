from django.db import models


class PredictionSource(models.TextChoices):
    """Which interface served a prediction."""

    API = "api", "REST API"
    INVOCATIONS = "invocations", "MLflow-compatible /invocations"
    WEB = "web", "Web form"
    BATCH = "batch", "Batch job"
    STREAM = "stream", "Redis stream"
