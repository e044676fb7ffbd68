"""Demo traffic: realistic logged predictions (and late labels) for a model,
optionally drifting, so a fresh install shows dashboards and reports.

Inputs are drawn from the version's reference sample (drifted on request),
predictions come from the real model and outliers from its real detector.
This is a demo and test tool: it writes the log directly in bulk, which the
serving path never does.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from core import registry
from core.ml.outliers import OutlierDetector
from monitoring.services.monitors import (
    Target,
    reference_sample_load,
)

logger = logging.getLogger(__name__)

SPAM_WORDS = ["WIN", "FREE", "prize", "£1000", "claim", "www.win-now.com", "txt 80082"]


def _drift(
    frame: pd.DataFrame, kinds: dict[str, str], strength: float, rng
) -> pd.DataFrame:
    frame = frame.copy()
    numeric = [c for c, k in kinds.items() if k == "num"]
    for column in numeric[:: max(1, len(numeric) // 4)]:
        std = float(frame[column].std()) or 1.0
        frame[column] = frame[column] + strength * std
    for column in [c for c, k in kinds.items() if k == "text"]:
        frame[column] = [
            f"{text} {' '.join(rng.choice(SPAM_WORDS, 3))}"
            if rng.random() < strength
            else text
            for text in frame[column]
        ]
    return frame


def traffic_simulate(
    *,
    target: Target,
    kinds: dict[str, str],
    start: datetime,
    end: datetime,
    per_hour: int,
    drift_from: datetime | None,
    drift_strength: float,
    label_share: float,
    seed: int = 0,
) -> int:
    """Write predictions of ``target`` spread over ``[start, end)``; returns rows."""
    from inference.models import Feedback, PredictionLog

    rng = np.random.default_rng(seed)
    reference = reference_sample_load(target=target)
    features = list(kinds)
    hours = max(1, int((end - start).total_seconds() // 3600))
    total = per_hour * hours
    frame = reference.sample(n=total, replace=True, random_state=seed).reset_index(
        drop=True
    )
    times = [start + timedelta(seconds=float(s)) for s in np.sort(
        rng.uniform(0, (end - start).total_seconds(), total)
    )]  # fmt: skip
    if drift_from is not None:
        drifted = np.array([t >= drift_from for t in times])
        if drifted.any():
            frame.loc[drifted, features] = _drift(
                frame.loc[drifted, features], kinds, drift_strength, rng
            ).to_numpy()
    with tempfile.TemporaryDirectory() as tmp:
        model = registry.model_load(
            registry.version_download(target.model_name, target.version, Path(tmp))
        )
        raw = model.get_raw_model()
        inputs = frame[features].copy()
        for column, kind in kinds.items():
            if kind == "num":
                inputs[column] = inputs[column].astype(float)
        predictions = raw.predict(inputs)
        probas = raw.predict_proba(inputs) if hasattr(raw, "predict_proba") else None
        classes = [str(c) for c in getattr(raw, "classes_", [])]
        detector_dir = registry.run_artifact_download(
            target.run_id, target.outlier_artifact, Path(tmp) / "outlier"
        )
        detector = OutlierDetector.load(detector_dir)
        scores = detector.score(inputs)
        flags = detector.flag(scores)
    latencies = rng.lognormal(mean=np.log(6), sigma=0.5, size=total)
    rows = []
    for i in range(total):
        values = inputs.iloc[i].to_dict()
        rows.append(
            PredictionLog(
                prediction_id=uuid.uuid4(),
                model_name=target.model_name,
                model_version=target.version,
                alias="production",
                inputs={
                    k: (v.item() if hasattr(v, "item") else v)
                    for k, v in values.items()
                },
                prediction=str(predictions[i]),
                probabilities=(
                    {c: float(p) for c, p in zip(classes, probas[i], strict=True)}
                    if probas is not None
                    else None
                ),
                outlier_score=float(scores[i]),
                is_outlier=bool(flags[i]),
                latency_ms=float(latencies[i]),
                request_id=f"sim-{seed}-{i}",
                created_at=times[i],
            )
        )
    created = PredictionLog.objects.bulk_create(rows, batch_size=2000)
    labels = []
    for i, row in enumerate(created):
        if rng.random() >= label_share:
            continue
        truth = str(frame["target"].iloc[i])
        if (
            drift_from is not None
            and times[i] >= drift_from
            and rng.random() < drift_strength / 2
        ):
            truth = next((c for c in classes if c != truth), truth)
        labels.append(Feedback(prediction=row, label=truth))
    Feedback.objects.bulk_create(labels, batch_size=2000)
    logger.info(
        "simulated %d predictions (%d labelled) of %s v%s",
        total,
        len(labels),
        target.model_name,
        target.version,
    )
    return total
