"""Governance tables: the registry mirror, promotion workflow, audit ledger and
webhook deliveries. Other apps read the mirror through governance's selectors."""

from governance.models.audit import AuditChainHead, AuditEvent
from governance.models.mirror import ModelAlias, ModelVersion, RegisteredModel
from governance.models.promotion import Approval, PromotionPolicy, PromotionRequest
from governance.models.webhooks import WebhookDelivery

__all__ = [
    "Approval",
    "AuditChainHead",
    "AuditEvent",
    "ModelAlias",
    "ModelVersion",
    "PromotionPolicy",
    "PromotionRequest",
    "RegisteredModel",
    "WebhookDelivery",
]
