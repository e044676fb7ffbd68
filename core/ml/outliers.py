"""Outlier detector fitted by the trainer on the training inputs and used at
serving time to flag strange requests.

Text columns are described by ``core.ml.textstats`` descriptors, numeric columns
are used as they are; an IsolationForest scores the result. The detector is
saved as a JSON description plus the forest in skops format (no pickle), so
loading it cannot run code from the artifact store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from core.ml import textstats

DETECTOR_JSON = "detector.json"
FOREST_FILE = "forest.skops"
TRUSTED_TYPES = ["sklearn.tree._tree.Tree"]


@dataclass
class OutlierDetector:
    """IsolationForest over numeric columns and text descriptors.

    ``score`` is higher for stranger rows; a row is flagged when its score is
    above ``threshold``, the training-score quantile at ``1 - contamination``.
    """

    numeric_columns: list[str] = field(default_factory=list)
    text_columns: list[str] = field(default_factory=list)
    contamination: float = 0.01
    n_estimators: int = 100
    random_state: int = 0
    threshold: float = 0.0
    vocabulary: list[str] = field(default_factory=list)
    forest: object | None = None

    def _features(self, frame: pd.DataFrame) -> np.ndarray:
        parts: list[np.ndarray] = []
        if self.numeric_columns:
            parts.append(
                frame[self.numeric_columns].to_numpy(dtype=float, na_value=np.nan)
            )
        vocab = set(self.vocabulary)
        for column in self.text_columns:
            parts.append(textstats.describe(frame[column], vocab).to_numpy(dtype=float))
        matrix = np.hstack(parts) if parts else np.zeros((len(frame), 0))
        return np.nan_to_num(matrix, nan=0.0, posinf=0.0, neginf=0.0)

    def fit(self, frame: pd.DataFrame) -> OutlierDetector:
        from sklearn.ensemble import IsolationForest

        if self.text_columns:
            texts = pd.concat([frame[c] for c in self.text_columns]).astype(str)
            self.vocabulary = sorted(textstats.vocabulary(texts, min_count=2))
        self.forest = IsolationForest(
            n_estimators=self.n_estimators,
            random_state=self.random_state,
            n_jobs=1,
        ).fit(self._features(frame))
        scores = self.score(frame)
        self.threshold = float(np.quantile(scores, 1.0 - self.contamination))
        return self

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        """Outlier scores, higher is stranger (negated IsolationForest score)."""
        assert self.forest is not None, "detector is not fitted"
        return -self.forest.score_samples(self._features(frame))

    def flag(self, scores: np.ndarray) -> np.ndarray:
        return scores > self.threshold

    # ---------------------------------------------------------- persistence
    def save(self, folder: Path) -> None:
        import skops.io as sio

        folder.mkdir(parents=True, exist_ok=True)
        meta = {
            "numeric_columns": self.numeric_columns,
            "text_columns": self.text_columns,
            "contamination": self.contamination,
            "n_estimators": self.n_estimators,
            "random_state": self.random_state,
            "threshold": self.threshold,
            "vocabulary": self.vocabulary,
        }
        (folder / DETECTOR_JSON).write_text(json.dumps(meta))
        sio.dump(self.forest, folder / FOREST_FILE)

    @classmethod
    def load(cls, folder: Path) -> OutlierDetector:
        import skops.io as sio

        meta = json.loads((folder / DETECTOR_JSON).read_text())
        path = folder / FOREST_FILE
        untrusted = set(sio.get_untrusted_types(file=path)) - set(TRUSTED_TYPES)
        if untrusted:
            raise ValueError(
                f"outlier detector holds untrusted types: {sorted(untrusted)}"
            )
        forest = sio.load(path, trusted=TRUSTED_TYPES)
        return cls(**meta, forest=forest)
