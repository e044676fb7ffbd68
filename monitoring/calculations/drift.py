"""Per-column drift of a current window against a reference sample.

Methods and thresholds come pinned in ``ColumnSpec``; nothing here picks a
method from the sample size. Each result records the method, threshold and
score actually used, so a stored summary explains every verdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import pandas as pd

from monitoring.calculations.methods import TEXT, finite, method_get

FEATURE, DESCRIPTOR, PREDICTION, LABEL = "feature", "descriptor", "prediction", "label"


@dataclass(frozen=True)
class ColumnSpec:
    """How one column is tested: kind (num/cat/text), method, threshold, group."""

    name: str
    kind: str
    method: str
    threshold: float
    group: str = FEATURE
    #: column name in the reference sample when it differs (label → target)
    reference_name: str | None = None


@dataclass
class ColumnDrift:
    column: str
    kind: str
    group: str
    method: str
    threshold: float
    score: float | None
    drifted: bool
    reference_rows: int
    current_rows: int
    error: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def column_drift(
    reference: pd.Series,
    current: pd.Series,
    spec: ColumnSpec,
    *,
    min_rows: int = 1,
) -> ColumnDrift:
    """Test one column. Too few values on either side gives no verdict (error set)."""
    method = method_get(spec.method, spec.kind)
    ref = finite(reference, spec.kind)
    cur = finite(current, spec.kind)
    if spec.kind == TEXT:
        ref, cur = ref.astype(str), cur.astype(str)
    result = ColumnDrift(
        column=spec.name,
        kind=spec.kind,
        group=spec.group,
        method=spec.method,
        threshold=spec.threshold,
        score=None,
        drifted=False,
        reference_rows=len(ref),
        current_rows=len(cur),
    )
    if len(ref) == 0 or len(cur) < max(min_rows, 1):
        result.error = f"not enough values ({len(ref)} reference, {len(cur)} current)"
        return result
    value = method.score(ref, cur, spec.kind)
    result.score = float(value)
    result.drifted = bool(method.drifted(value, spec.threshold))
    return result


def drift_table(
    reference: pd.DataFrame | Mapping[str, pd.Series],
    current: pd.DataFrame,
    specs: list[ColumnSpec],
    *,
    min_rows: int = 1,
) -> list[ColumnDrift]:
    """Drift of every column of ``specs`` present on both sides (the
    reference as a frame or as series by column name)."""
    out = []
    for spec in specs:
        ref_name = spec.reference_name or spec.name
        if ref_name not in reference or spec.name not in current.columns:
            out.append(
                ColumnDrift(
                    column=spec.name,
                    kind=spec.kind,
                    group=spec.group,
                    method=spec.method,
                    threshold=spec.threshold,
                    score=None,
                    drifted=False,
                    reference_rows=0,
                    current_rows=0,
                    error="column missing from the reference or the window",
                )
            )
            continue
        out.append(
            column_drift(
                reference[ref_name], current[spec.name], spec, min_rows=min_rows
            )
        )
    return out


def drift_share(
    results: list[ColumnDrift], groups: tuple[str, ...] = (FEATURE, DESCRIPTOR)
) -> dict:
    """Tested, drifted and the share of drifted columns of some groups."""
    tested = [r for r in results if r.group in groups and r.score is not None]
    drifted = [r.column for r in tested if r.drifted]
    return {
        "columns": len(tested),
        "drifted": len(drifted),
        "share": (len(drifted) / len(tested)) if tested else 0.0,
        "drifted_columns": drifted,
    }
