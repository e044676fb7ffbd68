"""Wasserstein distance normed by the reference standard deviation ("wasserstein").

Numeric columns; drift when the score is at least the threshold (default 0.1).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

NAME = "wasserstein"
DEFAULT_THRESHOLD = 0.1


def score(reference: np.ndarray, current: np.ndarray) -> float:
    norm = max(float(np.std(reference)), 0.001)
    return float(stats.wasserstein_distance(reference, current) / norm)


def drifted(value: float, threshold: float) -> bool:
    return value >= threshold
