"""Shared binning of two samples into matching frequency vectors.

Same rule as Evidently's ``get_binned_data``: numeric columns with more than 20
distinct reference values use Sturges bins over both samples; anything else
is counted by value. With ``fill_zeroes`` empty bins get a tiny share so log
ratios stay finite (used by PSI and KL).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def value_shares(
    reference: pd.Series, current: pd.Series
) -> tuple[np.ndarray, np.ndarray]:
    """Share of each distinct value (union of both samples, NaN excluded)."""
    ref_counts = reference.value_counts(dropna=True)
    cur_counts = current.value_counts(dropna=True)
    keys = ref_counts.index.union(cur_counts.index)
    ref = ref_counts.reindex(keys, fill_value=0).to_numpy(dtype=float)
    cur = cur_counts.reindex(keys, fill_value=0).to_numpy(dtype=float)
    return ref / len(reference), cur / len(current)


def numeric_shares(
    reference: np.ndarray, current: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Shares over Sturges bins computed on both samples together."""
    combined = np.concatenate([reference, current])
    edges = np.histogram_bin_edges(combined, bins="sturges")
    ref = np.histogram(reference, edges)[0] / len(reference)
    cur = np.histogram(current, edges)[0] / len(current)
    return ref, cur


def _fill(shares: np.ndarray) -> np.ndarray:
    nonzero = shares[shares != 0]
    smallest = nonzero.min()
    fill = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    out = shares.copy()
    out[out == 0] = fill
    return out


def binned(
    reference: pd.Series,
    current: pd.Series,
    *,
    numeric: bool,
    fill_zeroes: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Frequency vectors of ``reference`` and ``current`` on common bins."""
    if numeric and reference.nunique() > 20:
        ref, cur = numeric_shares(
            reference.to_numpy(dtype=float), current.to_numpy(dtype=float)
        )
    else:
        ref, cur = value_shares(reference, current)
    if fill_zeroes:
        ref, cur = _fill(ref), _fill(cur)
    return ref, cur
