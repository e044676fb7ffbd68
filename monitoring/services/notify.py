"""Alert notifications: e-mail to the monitor's recipients and an optional
webhook (JSON POST signed with HMAC-SHA256), each sent once per event."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.request
import uuid

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from monitoring.choices import AlertStatus
from monitoring.models import Alert

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Modelgate-Signature"


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``<timestamp>.<body>``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def alert_payload(alert: Alert, event: str) -> dict:
    site = settings.SITE_URL.rstrip("/")
    return {
        "event": f"alert.{event}",
        "alert": {
            "id": alert.pk,
            "status": alert.status,
            "severity": alert.severity,
            "rule": alert.rule.kind,
            "title": alert.title,
            "value": alert.value,
            "model": alert.model_name,
            "version": alert.model_version,
            "opened_at": alert.opened_at.isoformat(),
            "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
            "url": site
            + reverse("monitoring:model-dashboard", kwargs={"name": alert.model_name}),
            "report_url": site
            + reverse("monitoring:report-detail", kwargs={"pk": alert.report_id})
            if alert.report_id
            else None,
        },
    }


def webhook_post(*, url: str, secret: str, payload: dict) -> int:
    body = json.dumps(payload, sort_keys=True).encode()
    timestamp = str(int(time.time()))
    request = urllib.request.Request(  # noqa: S310 - URL configured by an admin
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Modelgate-Alerts/1",
            "X-Modelgate-Timestamp": timestamp,
            "X-Modelgate-Delivery": uuid.uuid4().hex,
            SIGNATURE_HEADER: webhook_signature(secret, timestamp, body),
        },
    )
    timeout = settings.MONITORING["WEBHOOK_TIMEOUT_SECONDS"]
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return response.status


def alert_notify_send(*, alert_id: int, event: str) -> bool:
    """Send the notification of an alert's opening (once: ``notified_at`` set
    by conditional UPDATE; skipped while snoozed) or resolution."""
    alert = Alert.objects.select_related("monitor", "rule").get(pk=alert_id)
    now = timezone.now()
    if event == "opened":
        if alert.snoozed_until and alert.snoozed_until > now:
            return False
        if (
            not Alert.objects.filter(
                pk=alert.pk, notified_at__isnull=True, status=AlertStatus.OPEN
            )
            .filter(Q(snoozed_until__isnull=True) | Q(snoozed_until__lte=now))
            .update(notified_at=now)
        ):
            return False
    monitor = alert.monitor
    payload = alert_payload(alert, event)
    try:
        if monitor.recipient_list:
            send_mail(
                f"[Modelgate] {alert.severity.upper()} {event}: {alert.title}",
                json.dumps(payload["alert"], indent=2),
                None,
                monitor.recipient_list,
            )
        if monitor.webhook_url:
            webhook_post(
                url=monitor.webhook_url, secret=monitor.webhook_secret, payload=payload
            )
    except Exception:
        if event == "opened":
            Alert.objects.filter(pk=alert.pk, notified_at=now).update(notified_at=None)
        logger.exception("notification of alert %s (%s) failed", alert.pk, event)
        raise
    logger.info("alert %s %s notified", alert.pk, event)
    return True
