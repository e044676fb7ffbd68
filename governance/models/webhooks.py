"""Deliveries of MLflow registry webhooks, kept to refuse replays."""

from django.db import models

from core.models import BaseModel


class WebhookDelivery(BaseModel):
    """One accepted MLflow webhook delivery (signature verified).

    The unique delivery id makes a replayed or re-sent delivery a no-op.
    """

    delivery_id = models.CharField(
        max_length=64,
        unique=True,
        help_text="X-MLflow-Delivery-Id of the delivery.",
    )
    entity = models.CharField(
        max_length=64,
        help_text="Webhook entity (model_version, model_version_alias, ...).",
    )
    action = models.CharField(
        max_length=32,
        help_text="Webhook action (created, set, deleted).",
    )
    model_name = models.CharField(
        max_length=256,
        blank=True,
        default="",
        help_text="Registered model named in the payload.",
    )
    sent_at = models.DateTimeField(
        help_text="X-MLflow-Timestamp of the delivery.",
    )
    payload = models.JSONField(
        default=dict,
        help_text="The delivered JSON body.",
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.entity}.{self.action} {self.model_name} ({self.delivery_id})"
