"""Retention of the prediction log.

On PostgreSQL the log is partitioned by day: every day wholly older than the
cutoff is detached and dropped at once (archived first when asked), which
costs the same however many rows the day held and leaves no dead rows
behind. What remains older than the cutoff (the part of the cutoff's own day,
rows in the default partition, and every row on SQLite) is deleted in
batches, so no transaction grows with the table."""

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
from inference.services.partitions import (
    log_detached_day_drop,
    log_detached_days,
    log_is_partitioned,
    log_partition_drop,
    log_partitions,
)

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
    removed = _drop_partitions(cutoff=cutoff, archive=archive)
    if removed and progress:
        progress(removed)
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
                _archive(archive, PredictionLog.objects.filter(id__in=ids))
            PredictionLog.objects.filter(id__in=ids).delete()
        removed += len(ids)
        if progress:
            progress(removed)
    StoredResponse.objects.filter(created_at__lt=cutoff).delete()
    RequestError.objects.filter(created_at__lt=cutoff).delete()
    logger.info("pruned %d predictions older than %s", removed, cutoff.isoformat())
    return removed


def _archive(path: Path, rows) -> None:
    with gzip.open(path, "at", encoding="utf-8") as out:
        for row in rows.values(*LOG_COLUMNS, "feedback__label").iterator(
            chunk_size=5000
        ):
            out.write(json.dumps(row, default=str) + "\n")


def _drop_partitions(*, cutoff, archive: Path | None) -> int:
    """Drop the day partitions that end at or before ``cutoff``."""
    if not log_is_partitioned():
        return 0
    for part in log_detached_days():
        if part.end <= cutoff:
            log_detached_day_drop(part)
    removed = 0
    for part in log_partitions():
        if part.end > cutoff:
            break
        if archive is not None:
            _archive(
                archive,
                PredictionLog.objects.filter(
                    created_at__gte=part.start, created_at__lt=part.end
                ),
            )
        removed += log_partition_drop(part)
    return removed
