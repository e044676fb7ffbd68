"""Each numeric input's training range, carried by a version as a tag so the
try page can show it and offer a typical row without reading the data."""

from __future__ import annotations

import json
import math

import pandas as pd

TAG_FIELD_RANGES = "modelgate.field_ranges"


def _round(value: float) -> float:
    """Six significant digits: enough to read, short enough for a tag."""
    return float(f"{value:.6g}")


def field_ranges(frame: pd.DataFrame) -> dict[str, list[float]]:
    """``{column: [min, median, max]}`` of the numeric, non-boolean columns of
    ``frame`` (columns with no finite value left out)."""
    out: dict[str, list[float]] = {}
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(
            column
        ):
            continue
        values = column.dropna()
        if values.empty:
            continue
        triple = [float(values.min()), float(values.median()), float(values.max())]
        if all(math.isfinite(v) for v in triple):
            out[str(name)] = [_round(v) for v in triple]
    return out


def field_ranges_tag(frame: pd.DataFrame) -> str:
    return json.dumps(field_ranges(frame), separators=(",", ":"))


def field_ranges_parse(tag: str | None) -> dict[str, tuple[float, float, float]]:
    """The tag read back; a missing or malformed tag reads as no ranges."""
    try:
        data = json.loads(tag or "{}")
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    out = {}
    for name, triple in data.items():
        if (
            isinstance(triple, list)
            and len(triple) == 3
            and all(isinstance(v, int | float) for v in triple)
        ):
            out[str(name)] = (float(triple[0]), float(triple[1]), float(triple[2]))
    return out
