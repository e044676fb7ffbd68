"""Two-sample Kolmogorov-Smirnov test, two-sided ("ks").

Numeric columns; the score is the p-value; drift when it is at most the
threshold (default 0.05).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import ks_2samp

NAME = "ks"
DEFAULT_THRESHOLD = 0.05


def score(reference: np.ndarray, current: np.ndarray) -> float:
    return float(ks_2samp(reference, current)[1])


def drifted(value: float, threshold: float) -> bool:
    return value <= threshold
