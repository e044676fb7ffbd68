"""Chi-square goodness of fit of the current counts to the reference shares
("chisquare").

Categorical columns; the score is the p-value; drift when it is below the
threshold (default 0.05).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import chisquare

NAME = "chisquare"
DEFAULT_THRESHOLD = 0.05


def score(reference: pd.Series, current: pd.Series) -> float:
    ref_counts = reference.value_counts(dropna=True)
    cur_counts = current.value_counts(dropna=True)
    keys = ref_counts.index.union(cur_counts.index)
    k_norm = current.shape[0] / reference.shape[0]
    expected = ref_counts.reindex(keys, fill_value=0).to_numpy(dtype=float) * k_norm
    observed = cur_counts.reindex(keys, fill_value=0).to_numpy(dtype=float)
    # a category absent from the reference has expected count 0: p-value 0 (drift)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(chisquare(observed, expected)[1])


def drifted(value: float, threshold: float) -> bool:
    return value < threshold
