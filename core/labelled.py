"""Labelled production examples, reached without importing the app that logs
predictions.

The trainer may import core and governance only, yet retraining learns from
the prediction log joined with its feedback, which inference owns. Inference
installs its reader here when Django starts (``InferenceConfig.ready``); the
trainer asks through ``labelled_examples`` and ``labels_count_since``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class LabelledExample:
    """A logged prediction's inputs with the label a client sent for it."""

    prediction_id: str
    created_at: datetime
    model_version: int
    inputs: dict[str, Any]
    label: Any


class LabelledExampleReader(Protocol):
    def examples(
        self, *, model_name: str, start: datetime, end: datetime
    ) -> list[LabelledExample]:
        """Predictions of ``model_name`` served in ``[start, end)`` that have
        a label, oldest first."""

    def count_since(self, *, model_name: str, since: datetime | None) -> int:
        """Labels of ``model_name``'s predictions given or changed after
        ``since`` (all when None)."""


_reader: LabelledExampleReader | None = None


def labelled_reader_install(reader: LabelledExampleReader) -> None:
    global _reader
    _reader = reader


def _installed() -> LabelledExampleReader:
    if _reader is None:
        raise RuntimeError(
            "no reader of labelled predictions is installed: the 'inference' "
            "app must be in INSTALLED_APPS"
        )
    return _reader


def labelled_examples(
    *, model_name: str, start: datetime, end: datetime
) -> list[LabelledExample]:
    return _installed().examples(model_name=model_name, start=start, end=end)


def labels_count_since(*, model_name: str, since: datetime | None) -> int:
    return _installed().count_since(model_name=model_name, since=since)
