"""The drift methods a monitor may pin, by name, with the column kinds they
accept and their default thresholds (Evidently's names)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from monitoring.calculations import (
    chisquare,
    jensenshannon,
    ks,
    psi,
    text_domain,
    wasserstein,
)

NUM, CAT, TEXT = "num", "cat", "text"


@dataclass(frozen=True)
class Method:
    name: str
    label: str
    kinds: tuple[str, ...]
    default_threshold: float
    score: Callable[[pd.Series, pd.Series, str], float]
    drifted: Callable[[float, float], bool]
    #: "p_value" (small is drift) or "distance" (large is drift)
    score_kind: str
    #: the score of two samples of one distribution (0 for distances, 0.5
    #: for a classifier's ROC AUC); charts scale scores from it
    baseline: float = 0.0


def _arrays(fn):
    def run(ref: pd.Series, cur: pd.Series, kind: str) -> float:
        return fn(ref.to_numpy(dtype=float), cur.to_numpy(dtype=float))

    return run


def _binned(fn):
    def run(ref: pd.Series, cur: pd.Series, kind: str) -> float:
        return fn(ref, cur, numeric=kind == NUM)

    return run


def _series(fn):
    def run(ref: pd.Series, cur: pd.Series, kind: str) -> float:
        return fn(ref, cur)

    return run


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method(
            wasserstein.NAME,
            "Wasserstein distance (normed)",
            (NUM,),
            wasserstein.DEFAULT_THRESHOLD,
            _arrays(wasserstein.score),
            wasserstein.drifted,
            "distance",
        ),
        Method(
            jensenshannon.NAME,
            "Jensen-Shannon distance",
            (NUM, CAT),
            jensenshannon.DEFAULT_THRESHOLD,
            _binned(jensenshannon.score),
            jensenshannon.drifted,
            "distance",
        ),
        Method(
            psi.NAME,
            "PSI",
            (NUM, CAT),
            psi.DEFAULT_THRESHOLD,
            _binned(psi.score),
            psi.drifted,
            "distance",
        ),
        Method(
            ks.NAME,
            "K-S p-value",
            (NUM,),
            ks.DEFAULT_THRESHOLD,
            _arrays(ks.score),
            ks.drifted,
            "p_value",
        ),
        Method(
            chisquare.NAME,
            "chi-square p-value",
            (CAT,),
            chisquare.DEFAULT_THRESHOLD,
            _series(chisquare.score),
            chisquare.drifted,
            "p_value",
        ),
        Method(
            text_domain.NAME,
            "Domain classifier ROC AUC",
            (TEXT,),
            text_domain.DEFAULT_THRESHOLD,
            _series(text_domain.score),
            text_domain.drifted,
            "distance",
            baseline=0.5,
        ),
    )
}


def method_get(name: str, kind: str) -> Method:
    """The method ``name``; ValueError if unknown or not for ``kind`` columns."""
    method = METHODS.get(name)
    if method is None:
        raise ValueError(f"unknown drift method {name!r}; known: {sorted(METHODS)}")
    if kind not in method.kinds:
        raise ValueError(f"method {name!r} does not apply to {kind} columns")
    return method


def finite(series: pd.Series, kind: str) -> pd.Series:
    """Drop missing values (and infinities of numeric columns), as Evidently does."""
    if kind == NUM:
        values = pd.to_numeric(series, errors="coerce")
        return values[np.isfinite(values.to_numpy(dtype=float))]
    return series.dropna()
