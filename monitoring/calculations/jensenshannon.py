"""Jensen-Shannon distance of the binned samples ("jensenshannon").

Numeric and categorical columns; natural-log base, no zero filling; drift when
the distance is at least the threshold (default 0.1).
"""

from __future__ import annotations

import pandas as pd
from scipy.spatial import distance

from monitoring.calculations.binning import binned

NAME = "jensenshannon"
DEFAULT_THRESHOLD = 0.1


def score(reference: pd.Series, current: pd.Series, *, numeric: bool) -> float:
    ref, cur = binned(reference, current, numeric=numeric, fill_zeroes=False)
    return float(distance.jensenshannon(ref, cur))


def drifted(value: float, threshold: float) -> bool:
    return value >= threshold
