"""Governance's mirror of the MLflow model registry.

MLflow stays the source of truth for versions and aliases; these tables hold a
copy that pages and checks can query quickly, refreshed by the reconciler and
on every action that changes the registry.
"""

from django.db import models

from core.models import BaseModel
from governance.choices import ModelTask, TestStatus


class RegisteredModel(BaseModel):
    """A registered model of the MLflow registry (mirror)."""

    name = models.CharField(
        max_length=256,
        unique=True,
        help_text="Registered model name in MLflow.",
    )
    description = models.TextField(
        blank=True,
        default="",
        help_text="Description copied from MLflow.",
    )
    task = models.CharField(
        max_length=32,
        choices=ModelTask.choices,
        default=ModelTask.UNKNOWN,
        help_text="Classification or regression, from the version tags.",
    )
    last_synced_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the mirror was last reconciled with MLflow.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ModelVersion(BaseModel):
    """One version of a registered model, with what governance needs to judge it."""

    registered_model = models.ForeignKey(
        RegisteredModel,
        on_delete=models.CASCADE,
        related_name="versions",
        help_text="The registered model this version belongs to.",
    )
    version = models.PositiveIntegerField(
        help_text="MLflow version number.",
    )
    run_id = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="MLflow run that produced the model.",
    )
    source = models.CharField(
        max_length=1024,
        blank=True,
        default="",
        help_text="Model URI the version was registered from.",
    )
    mlflow_status = models.CharField(
        max_length=32,
        blank=True,
        default="",
        help_text="MLflow's status of the version (READY, PENDING_REGISTRATION, ...).",
    )
    test_status = models.CharField(
        max_length=16,
        choices=TestStatus.choices,
        default=TestStatus.UNKNOWN,
        help_text="Result of the model tests (tag modelgate.tests).",
    )
    metrics = models.JSONField(
        default=dict,
        blank=True,
        help_text="Held-out metrics logged by the run.",
    )
    params = models.JSONField(
        default=dict,
        blank=True,
        help_text="Training parameters logged by the run.",
    )
    tags = models.JSONField(
        default=dict,
        blank=True,
        help_text="Model-version tags in MLflow.",
    )
    signature = models.JSONField(
        default=dict,
        blank=True,
        help_text="MLflow signature: {'inputs': [...], 'outputs': [...]}.",
    )
    model_card = models.TextField(
        blank=True,
        default="",
        help_text="Model card (markdown) logged with the run.",
    )
    registered_by = models.CharField(
        max_length=256,
        blank=True,
        default="",
        help_text="MLflow user who registered the version.",
    )
    registered_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When MLflow registered the version.",
    )

    class Meta:
        ordering = ["registered_model__name", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["registered_model", "version"],
                name="uniq_model_version",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.registered_model.name} v{self.version}"

    @property
    def classes(self) -> list[str]:
        """Class labels the version predicts (classification), from its tags."""
        raw = self.tags.get("modelgate.classes", "")
        return [c for c in raw.split(",") if c] if raw else []


class ModelAlias(BaseModel):
    """Where an MLflow alias of a registered model points, as last seen."""

    registered_model = models.ForeignKey(
        RegisteredModel,
        on_delete=models.CASCADE,
        related_name="aliases",
        help_text="The registered model the alias belongs to.",
    )
    alias = models.CharField(
        max_length=64,
        help_text="Alias name (staging, production, previous, ...).",
    )
    version = models.ForeignKey(
        ModelVersion,
        on_delete=models.CASCADE,
        related_name="aliases",
        help_text="The version the alias points to.",
    )

    class Meta:
        ordering = ["registered_model__name", "alias"]
        constraints = [
            models.UniqueConstraint(
                fields=["registered_model", "alias"],
                name="uniq_model_alias",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.registered_model.name}@{self.alias} → v{self.version.version}"
