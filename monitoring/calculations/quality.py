"""Data quality of a window against the reference: missing values, numbers
out of the reference range, categories never seen, over-long texts."""

from __future__ import annotations

import numpy as np
import pandas as pd

from monitoring.calculations.methods import CAT, NUM, TEXT


def column_quality(
    reference: pd.Series, current: pd.Series, kind: str, *, max_text_length: int
) -> dict:
    """Quality figures of one column (shares are of the window's rows)."""
    rows = len(current)
    missing = int(current.isna().sum())
    out: dict = {
        "kind": kind,
        "rows": rows,
        "missing": missing,
        "missing_share": (missing / rows) if rows else 0.0,
    }
    if kind == NUM:
        ref = pd.to_numeric(reference, errors="coerce").to_numpy(dtype=float)
        cur = pd.to_numeric(current, errors="coerce").to_numpy(dtype=float)
        ref = ref[np.isfinite(ref)]
        low, high = (float(ref.min()), float(ref.max())) if len(ref) else (0.0, 0.0)
        finite_cur = cur[np.isfinite(cur)]
        outside = int(((finite_cur < low) | (finite_cur > high)).sum())
        out.update(
            {
                "reference_min": low,
                "reference_max": high,
                "out_of_range": outside,
                "out_of_range_share": (outside / rows) if rows else 0.0,
            }
        )
    elif kind == CAT:
        known = set(reference.dropna().astype(str))
        values = current.dropna().astype(str)
        unseen_mask = ~values.isin(known)
        unseen = values[unseen_mask]
        out.update(
            {
                "unseen": int(unseen_mask.sum()),
                "unseen_share": (float(unseen_mask.sum()) / rows) if rows else 0.0,
                "unseen_values": sorted(unseen.unique().tolist())[:10],
            }
        )
    elif kind == TEXT:
        lengths = current.dropna().astype(str).str.len()
        too_long = int((lengths > max_text_length).sum())
        out.update(
            {
                "max_length": int(lengths.max()) if len(lengths) else 0,
                "limit": max_text_length,
                "over_long": too_long,
                "over_long_share": (too_long / rows) if rows else 0.0,
            }
        )
    return out


def data_quality(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    kinds: dict[str, str],
    *,
    max_text_length: int,
) -> dict[str, dict]:
    """``{column: figures}`` for every column of ``kinds`` present in the window."""
    out = {}
    for column, kind in kinds.items():
        if column not in current.columns:
            out[column] = {"kind": kind, "error": "column missing from the window"}
            continue
        ref = reference[column] if column in reference.columns else current[:0]
        out[column] = column_quality(
            ref, current[column], kind, max_text_length=max_text_length
        )
    return out
