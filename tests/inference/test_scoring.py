"""The serving-time outlier scorer and text descriptors match the originals."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import IsolationForest

from core.ml import textstats
from core.ml.outliers import OutlierDetector
from inference.scoring import FastOutlierScorer, FlatForest, describe_rows

TEXTS = [
    "Hello, see you at 7?",
    "WINNER!! Claim your £900 prize at www.example.com now",
    "",
    "ÄÖÜ straße 123 café",
    "URGENT call 09061701461 $$$ FREE",
    "a" * 400,
    "   spaced    out   words  ",
    "see http://x now",
    "pay 20 USD or 15 pounds, $5, €3, 10 Dollars",
    "Www.site.CO.UK and test.biz;",
    "under_score and 3rd_place isn't 12",
    "Café costs £3 at http://café.fr",
]


@pytest.mark.parametrize("max_features", [1.0, 0.5])
def test_flat_forest_scores_like_isolation_forest(max_features):
    rng = np.random.default_rng(0)
    train = rng.normal(size=(300, 6))
    forest = IsolationForest(
        n_estimators=40, max_features=max_features, random_state=1
    ).fit(train)
    sample = np.vstack([rng.normal(size=(50, 6)), rng.normal(5, 3, size=(5, 6))])
    expected = forest.score_samples(sample)
    got = FlatForest.from_forest(forest).score_samples(sample)
    assert np.allclose(got, expected, rtol=0, atol=1e-12)


def test_describe_rows_matches_textstats():
    vocab = {"hello", "see", "you", "at", "claim", "prize"}
    expected = textstats.describe(TEXTS, vocab).to_numpy(dtype=float)
    assert np.allclose(describe_rows(TEXTS, vocab), expected)
    assert np.allclose(
        describe_rows(TEXTS, set()), textstats.describe(TEXTS).to_numpy(dtype=float)
    )


def test_describe_rows_matches_textstats_on_every_sms_message():
    path = Path(__file__).resolve().parents[2] / "data/sms_spam/SMSSpamCollection"
    texts = [line.split("\t", 1)[1] for line in path.read_text().splitlines()]
    vocab = textstats.vocabulary(texts[:2000], min_count=2)
    expected = textstats.describe(texts, vocab).to_numpy(dtype=float)
    got = describe_rows(texts, frozenset(vocab))
    assert got.shape == expected.shape == (len(texts), len(textstats.DESCRIPTORS))
    assert np.allclose(got, expected, rtol=0, atol=1e-12)


def test_describe_rows_of_nothing_is_an_empty_matrix():
    assert describe_rows([], set()).shape == (0, len(textstats.DESCRIPTORS))
    assert np.allclose(
        describe_rows([None], set()), textstats.describe([None]).to_numpy(dtype=float)
    )


def test_fast_scorer_matches_the_trainers_detector():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "message": [TEXTS[i % len(TEXTS)] + f" {i}" for i in range(200)],
            "amount": rng.normal(size=200),
        }
    )
    detector = OutlierDetector(
        numeric_columns=["amount"], text_columns=["message"], n_estimators=30
    ).fit(frame)
    scorer = FastOutlierScorer.from_detector(detector)
    rows = frame.to_dict(orient="records")
    assert np.allclose(scorer.score(rows), detector.score(frame), atol=1e-12)
    odd = [{"message": "zzzz qqqq " * 40, "amount": 50.0}]
    assert scorer.score(odd)[0] > scorer.threshold
