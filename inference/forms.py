"""The try page's fields: each input of the signature with the value to show,
its training range and a typical value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.ml.field_ranges import TAG_FIELD_RANGES, field_ranges_parse
from inference.validation import Field


@dataclass(frozen=True)
class FormField:
    field: Field
    value: Any
    low: float | None = None
    median: float | None = None
    high: float | None = None
    #: what "Fill with a typical row" puts in: the training median of a
    #: number, the input example's value otherwise
    typical: Any = ""

    @property
    def has_range(self) -> bool:
        return self.low is not None


def form_fields(served, posted: dict | None = None) -> list[FormField]:
    """The fields of ``served``'s form: posted values when the page answers a
    post, the version's input example otherwise."""
    ranges = field_ranges_parse(served.tags.get(TAG_FIELD_RANGES))
    example = served.example or {}
    out = []
    for field in served.inputs:
        shown = (
            example.get(field.name, "")
            if posted is None
            else posted.get(field.name, "")
        )
        low = median = high = None
        if field.name in ranges:
            low, median, high = ranges[field.name]
        typical = median if median is not None else example.get(field.name, "")
        out.append(
            FormField(
                field=field,
                value="" if shown is None else shown,
                low=low,
                median=median,
                high=high,
                typical=typical,
            )
        )
    return out
