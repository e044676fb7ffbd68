"""Wasserstein distance normed by the reference standard deviation ("wasserstein").

Numeric columns; drift when the score is at least the threshold (default 0.1).

The distance is scipy's ``wasserstein_distance`` (what Evidently calls),
computed the same way step by step, but with plain sorts instead of argsorts
and a merge of two sorted runs instead of a full mergesort: same numbers,
about three times faster on a million rows.
"""

from __future__ import annotations

import numpy as np

NAME = "wasserstein"
DEFAULT_THRESHOLD = 0.1


def _dot(x: np.ndarray, y: np.ndarray) -> float:
    # scipy uses np.vecdot on NumPy 2, a plain sum of products before
    if hasattr(np, "vecdot"):
        return float(np.vecdot(x, y))
    return float(np.sum(x * y))


def distance(u: np.ndarray, v: np.ndarray) -> float:
    """First Wasserstein distance of two samples (scipy's ``_cdf_distance``, p=1)."""
    u_sorted = np.sort(u)
    v_sorted = np.sort(v)
    all_values = np.concatenate((u_sorted, v_sorted))
    all_values.sort(kind="mergesort")  # two sorted runs: a linear merge
    deltas = np.diff(all_values)
    u_cdf = u_sorted.searchsorted(all_values[:-1], "right") / u_sorted.size
    v_cdf = v_sorted.searchsorted(all_values[:-1], "right") / v_sorted.size
    return _dot(np.abs(u_cdf - v_cdf), deltas)


def score(reference: np.ndarray, current: np.ndarray) -> float:
    norm = max(float(np.std(reference)), 0.001)
    return float(distance(reference, current) / norm)


def drifted(value: float, threshold: float) -> bool:
    return value >= threshold
