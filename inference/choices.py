from django.db import models


class PredictionSource(models.TextChoices):
    """Which interface served a prediction."""

    API = "api", "REST API"
    INVOCATIONS = "invocations", "MLflow-compatible /invocations"
    WEB = "web", "Web form"
    BATCH = "batch", "Batch job"
    STREAM = "stream", "Redis stream"


class BatchStatus(models.TextChoices):
    """Life of a batch scoring job: pending → running → succeeded | failed."""

    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class BatchInputKind(models.TextChoices):
    """Where the rows of a batch job come from."""

    UPLOAD = "upload", "Uploaded CSV"
    SERVER_FILE = "server_file", "File on the server"
