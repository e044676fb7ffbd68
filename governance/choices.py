from django.db import models


class Role(models.TextChoices):
    """Django groups that carry Modelgate's roles (created by a migration)."""

    REQUESTER = "requesters", "Requesters (data scientists)"
    STAGING_APPROVER = "staging_approvers", "Staging approvers"
    PRODUCTION_APPROVER = "production_approvers", "Production approvers"
    VIEWER = "viewers", "Viewers"
    OPS = "ops", "Ops / on-call"
    API_CLIENT = "api_clients", "API clients"


class TestStatus(models.TextChoices):
    """Outcome of the trainer's model tests, read from the version's tags."""

    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    UNKNOWN = "unknown", "Unknown"


class ModelTask(models.TextChoices):
    CLASSIFICATION = "classification", "Classification"
    REGRESSION = "regression", "Regression"
    UNKNOWN = "unknown", "Unknown"
