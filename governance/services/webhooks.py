"""MLflow registry webhooks (MLflow ≥ 3.3): verify, de-duplicate, trigger a sync.

MLflow signs ``f"{delivery_id}.{timestamp}.{body}"`` with HMAC-SHA256 and the
webhook's secret and sends ``v1,<base64 digest>`` in ``X-MLflow-Signature``,
with ``X-MLflow-Delivery-Id`` and ``X-MLflow-Timestamp`` (Unix seconds).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime

from django.conf import settings
from django.db import IntegrityError, transaction

from core.exceptions import ApplicationError, NotFoundError, PermissionDeniedError
from governance.models import WebhookDelivery

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_HEADER = "X-MLflow-Delivery-Id"
SIGNATURE_VERSION = "v1"


def webhook_signature(
    *, secret: str, delivery_id: str, timestamp: str, body: str
) -> str:
    """The signature MLflow sends for this delivery."""
    digest = hmac.new(
        secret.encode("utf-8"),
        f"{delivery_id}.{timestamp}.{body}".encode(),
        hashlib.sha256,
    ).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name, "")
    if not value:
        raise ApplicationError(
            f"missing header {name}",
            {"fields": {name: ["required"]}},
            code="bad_webhook",
        )
    return value


def webhook_receive(
    *, body: bytes, headers: Mapping[str, str], now: float | None = None
) -> dict:
    """Accept one delivery: 404 when webhooks are off, 400 on a missing header,
    a stale timestamp or a bad body, 403 on a bad signature. A delivery id seen
    before answers ``duplicate`` and does nothing."""
    conf = settings.GOVERNANCE
    secret = conf["WEBHOOK_SECRET"]
    if not secret:
        raise NotFoundError("MLflow webhooks are not enabled (MLFLOW_WEBHOOK_SECRET)")
    delivery_id = _header(headers, DELIVERY_HEADER)[:64]
    timestamp = _header(headers, TIMESTAMP_HEADER)
    signature = _header(headers, SIGNATURE_HEADER)
    try:
        sent = int(timestamp)
    except ValueError:
        raise ApplicationError(
            f"{TIMESTAMP_HEADER} must be Unix seconds", code="bad_webhook"
        ) from None
    now = time.time() if now is None else now
    if abs(now - sent) > conf["WEBHOOK_MAX_AGE_SECONDS"]:
        logger.warning("webhook %s refused: timestamp %s is stale", delivery_id, sent)
        raise ApplicationError(
            f"stale delivery: {TIMESTAMP_HEADER} is more than "
            f"{conf['WEBHOOK_MAX_AGE_SECONDS']} s away from now",
            code="stale_webhook",
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApplicationError("body is not UTF-8", code="bad_webhook") from None
    expected = webhook_signature(
        secret=secret, delivery_id=delivery_id, timestamp=timestamp, body=text
    )
    if not hmac.compare_digest(expected, signature):
        logger.warning("webhook %s refused: bad signature", delivery_id)
        raise PermissionDeniedError("invalid webhook signature", code="bad_signature")
    try:
        payload = json.loads(text)
        entity, action = str(payload["entity"]), str(payload["action"])
        data = payload.get("data") or {}
        model_name = str(data.get("name", ""))[:256]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ApplicationError(
            "body is not an MLflow webhook payload", code="bad_webhook"
        ) from None
    try:
        with transaction.atomic():
            WebhookDelivery.objects.create(
                delivery_id=delivery_id,
                entity=entity[:64],
                action=action[:32],
                model_name=model_name,
                sent_at=datetime.fromtimestamp(sent, tz=UTC),
                payload=payload,
            )
            if model_name:
                from governance.tasks import registry_model_sync

                transaction.on_commit(
                    lambda: registry_model_sync.delay(name=model_name), robust=True
                )
    except IntegrityError:
        logger.info("webhook %s is a duplicate: ignored", delivery_id)
        return {"status": "duplicate", "delivery_id": delivery_id}
    logger.info("webhook %s: %s.%s %s", delivery_id, entity, action, model_name)
    return {"status": "accepted", "delivery_id": delivery_id}
