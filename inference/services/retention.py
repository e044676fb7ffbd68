"""Retention of the prediction log: delete (or archive, then delete) old rows
in batches, so a large table is pruned without one huge transaction."""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from inference.logrows import LOG_COLUMNS
from inference.models import PredictionLog, RequestError, StoredResponse

logger = logging.getLogger(__name__)


def prediction_log_prune(
    *,
    older_than_days: int,
    archive_dir: Path | None = None,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Delete prediction rows (with their feedback), stored responses and
    request errors older than ``older_than_days``; with ``archive_dir``, each
    batch of predictions is first appended to a gzipped JSON-lines file there.
    Returns the number of prediction rows removed."""
    if older_than_days < 1:
        raise ValueError("older_than_days must be at least 1")
    cutoff = timezone.now() - timedelta(days=older_than_days)
    archive = None
    if archive_dir is not None:
        archive_dir.mkdir(parents=True, exist_ok=True)
        stamp = timezone.now().strftime("%Y%m%dT%H%M%S")
        archive = archive_dir / f"predictions-before-{cutoff:%Y%m%d}-{stamp}.jsonl.gz"
    removed = 0
    while True:
        ids = list(
            PredictionLog.objects.filter(created_at__lt=cutoff)
            .order_by("id")
            .values_list("id", flat=True)[:batch_size]
        )
        if not ids:
            break
        with transaction.atomic():
            if archive is not None:
                rows = PredictionLog.objects.filter(id__in=ids).values(
                    *LOG_COLUMNS, "feedback__label"
                )
                with gzip.open(archive, "at", encoding="utf-8") as out:
                    for row in rows:
                        out.write(json.dumps(row, default=str) + "\n")
            PredictionLog.objects.filter(id__in=ids).delete()
        removed += len(ids)
        if progress:
            progress(removed)
    StoredResponse.objects.filter(created_at__lt=cutoff).delete()
    RequestError.objects.filter(created_at__lt=cutoff).delete()
    logger.info("pruned %d predictions older than %s", removed, cutoff.isoformat())
    return removed
