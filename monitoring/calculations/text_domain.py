"""Text drift by a domain classifier ("abs_text_content_drift").

The same procedure as Evidently's absolute text content drift: label reference
texts 0 and current texts 1, split half/half (seed 42), fit TF-IDF + an L1
SGD classifier, and score ROC AUC on the held-out half. AUC 0.5 means the two
samples cannot be told apart; drift when the AUC is above the threshold
(default 0.55). Callers bound the sample sizes (it fits a model).
"""

from __future__ import annotations

import pandas as pd

NAME = "abs_text_content_drift"
DEFAULT_THRESHOLD = 0.55


def score(reference: pd.Series, current: pd.Series) -> float:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import SGDClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline

    data = pd.concat(
        [
            pd.DataFrame({"text": reference, "target": 0}),
            pd.DataFrame({"text": current, "target": 1}),
        ]
    )
    x_train, x_test, y_train, y_test = train_test_split(
        data["text"], data["target"], test_size=0.5, random_state=42, shuffle=True
    )
    pipeline = Pipeline(
        [
            (
                "vectorization",
                TfidfVectorizer(sublinear_tf=True, max_df=0.5, stop_words="english"),
            ),
            (
                "classification",
                SGDClassifier(
                    alpha=0.0001,
                    max_iter=50,
                    penalty="l1",
                    loss="modified_huber",
                    random_state=42,
                ),
            ),
        ]
    )
    pipeline.fit(x_train, y_train)
    return float(roc_auc_score(y_test, pipeline.predict_proba(x_test)[:, 1]))


def drifted(value: float, threshold: float) -> bool:
    return value > threshold
