from django.db import models


class PredictionSource(models.TextChoices):
    """Which interface served a prediction."""

    API = "api", "REST API"
    INVOCATIONS = "invocations", "MLflow-compatible /invocations"
    WEB = "web", "Web form"
    BATCH = "batch", "Batch job"
    STREAM = "stream", "Redis stream"
    EDGE = "edge", "Edge (in the browser)"
    PRECOMPUTED = "precomputed", "Precomputed by key (hybrid)"


class ServedAs(models.TextChoices):
    """Under which serving rule a prediction was answered."""

    PROMOTED = "promoted", "Production alias"
    ELEVATED = "elevated", "Staging, previous or an explicit version (by role)"
    OVERRIDE = "override", "A version whose tests failed or never ran (override)"


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
