"""Demo traffic: realistic logged predictions (and late labels) for a model,
optionally drifting, so a fresh install shows dashboards and reports.

Inputs are drawn from the version's reference sample (drifted on request),
predictions come from the real model and outliers from its real detector.
Two kinds of drift:

- ``shift``: spam words appended to messages (numbers moved by a share of
  their spread), labels flipped at random: the inputs drift, nothing new to
  learn;
- ``new-spam``: a share of the messages replaced by a spam campaign the
  model never saw (parcel fees, wallet checks, "hi mum" scams), labelled
  spam: the kind of change retraining on fresh labels fixes
  (docs/continuous-training.md, the demo).
This is a demo and test tool: it writes the log directly in bulk, which the
serving path never does.
"""

from __future__ import annotations

import logging
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from core import registry
from core.ids import uuid7
from core.ml.outliers import OutlierDetector
from monitoring.services.monitors import (
    Target,
    reference_sample_load,
)

logger = logging.getLogger(__name__)

SPAM_WORDS = ["WIN", "FREE", "prize", "£1000", "claim", "www.win-now.com", "txt 80082"]
SCENARIOS = ("shift", "new-spam")
# A campaign of the 2020s: none of its wording is in the 2012 SMS corpus.
CAMPAIGN = [
    "Your parcel {ref} is held at the depot. Pay the {fee} release fee at "
    "{site} within 24h or it is returned",
    "Hi {who}, I dropped my phone, this is my new number {phone}. Can you send "
    "{amount} for my rent today? I'll pay you back {day}",
    "Wallet alert: unusual login on your account {ref}. Verify your recovery "
    "phrase at {site} to avoid suspension",
    "Your {bank} payee {ref} was added {day}. If this was not you, secure your "
    "account now at {site}",
    "Customs notice: a {fee} duty is due on delivery {ref}. Settle it at {site}",
]
SITES = ["parcel-release.info", "secure-verify.net", "wallet-check.app",
         "acct-protect.co", "duty-pay.org", "redeliver-now.com"]  # fmt: skip
BANKS = ["NatWest", "Lloyds", "Barclays", "Monzo", "Revolut", "HSBC"]
DAYS = ["today", "tomorrow", "on Friday", "at 10:42", "on Monday"]


def campaign_message(rng) -> str:
    """One message of the new spam campaign (varied, so no two repeat)."""
    template = CAMPAIGN[int(rng.integers(len(CAMPAIGN)))]
    letter = str(rng.choice(list("ABCDEFGHJKLMNPRSTUVWXYZ")))
    return template.format(
        ref=f"{letter}{int(rng.integers(10**6, 10**7))}",
        fee=f"£{rng.integers(1, 4)}.{int(rng.integers(10, 99))}",
        amount=f"£{int(rng.integers(8, 60)) * 10}",
        site=str(rng.choice(SITES)),
        bank=str(rng.choice(BANKS)),
        day=str(rng.choice(DAYS)),
        who=str(rng.choice(["mum", "dad", "mom"])),
        phone=f"07{int(rng.integers(10**8, 10**9))}",
    )


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


def _campaign_column(kinds: dict[str, str], target: Target) -> str:
    texts = [c for c, k in kinds.items() if k == "text"]
    if len(texts) != 1:
        raise ValueError(
            f"the new-spam scenario needs a model with one text input; "
            f"{target.model_name} has {len(texts)}"
        )
    if "spam" not in set(map(str, reference_sample_load(target=target)["target"])):
        raise ValueError(f"{target.model_name} has no 'spam' class")
    return texts[0]


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
    scenario: str = "shift",
) -> int:
    """Write predictions of ``target`` spread over ``[start, end)``; returns rows.
    From ``drift_from`` on, the traffic drifts as ``scenario`` says."""
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
    drifted = np.array([drift_from is not None and t >= drift_from for t in times])
    if scenario == "new-spam" and drifted.any():
        text = _campaign_column(kinds, target)
        campaign = drifted & (rng.random(total) < drift_strength)
        frame.loc[campaign, text] = [
            campaign_message(rng) for _ in campaign.nonzero()[0]
        ]
        frame.loc[campaign, "target"] = "spam"
    elif drifted.any():
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
                prediction_id=uuid7(at=times[i]),
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
        if scenario == "shift" and drifted[i] and rng.random() < drift_strength / 2:
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
