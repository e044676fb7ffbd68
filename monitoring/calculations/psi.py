"""Population stability index of the binned samples ("psi").

Numeric and categorical columns; empty bins get a tiny share; drift when the
index is at least the threshold (default 0.1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from monitoring.calculations.binning import binned

NAME = "psi"
DEFAULT_THRESHOLD = 0.1


def score(reference: pd.Series, current: pd.Series, *, numeric: bool) -> float:
    ref, cur = binned(reference, current, numeric=numeric, fill_zeroes=True)
    return float(np.sum((ref - cur) * np.log(ref / cur)))


def drifted(value: float, threshold: float) -> bool:
    return value >= threshold
