"""Reference statistics of drift, stored per (model version, method
configuration) so every report reuses them instead of preparing the
reference sample again."""

from __future__ import annotations

import hashlib
import json
import logging

import pandas as pd
from django.db import IntegrityError, transaction

from monitoring.calculations.report import ReportConfig, reference_statistics
from monitoring.models import ReferenceStatistics

logger = logging.getLogger(__name__)


def reference_config_key(config: ReportConfig) -> str:
    """What the reference statistics depend on, hashed: the column kinds, the
    methods and per-column overrides, the text settings and vocabulary, the
    task's positive class. Thresholds are included too (cheap to over-key)."""
    parts = {
        "kinds": config.feature_kinds,
        "methods": {k: list(v) for k, v in config.methods.items()},
        "overrides": config.overrides,
        "text_sample_rows": config.text_sample_rows,
        "task": config.task,
        "positive_class": config.positive_class,
        "seed": config.seed,
        "vocabulary": sorted(config.vocabulary)
        if config.vocabulary is not None
        else None,
    }
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def reference_statistics_get(
    *,
    model_name: str,
    model_version: int,
    config: ReportConfig,
    reference: pd.DataFrame,
) -> dict:
    """The stored statistics of this version and configuration, computed and
    stored on first use (two reports racing store one row)."""
    key = reference_config_key(config)
    found = (
        ReferenceStatistics.objects.filter(
            model_name=model_name, model_version=model_version, config_key=key
        )
        .values_list("statistics", flat=True)
        .first()
    )
    if found is not None:
        return found
    statistics = reference_statistics(reference, config)
    try:
        with transaction.atomic():
            ReferenceStatistics.objects.create(
                model_name=model_name,
                model_version=model_version,
                config_key=key,
                statistics=statistics,
            )
    except IntegrityError:
        pass  # another report stored the same statistics meanwhile
    logger.info(
        "reference statistics of %s v%s computed (configuration %s)",
        model_name,
        model_version,
        key[:12],
    )
    return statistics
