import numpy as np
import pandas as pd

from core.ml import textstats
from core.ml.outliers import OutlierDetector


def test_descriptors_of_known_texts():
    frame = textstats.describe(
        ["Call 0800 now! www.win.com £100", "hello there"], vocab={"hello", "there"}
    )
    assert list(frame.columns) == list(textstats.DESCRIPTORS)
    first, second = frame.iloc[0], frame.iloc[1]
    assert first["length"] == 31
    assert first["has_url"] == 1 and first["has_currency"] == 1
    assert first["digit_share"] == 7 / 31
    assert second["has_url"] == 0 and second["oov_share"] == 0
    assert first["oov_share"] == 1.0


def test_text_detector_flags_strange_messages_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    words = ["see", "you", "at", "home", "later", "ok", "thanks", "call", "me", "soon"]
    texts = [" ".join(rng.choice(words, size=rng.integers(3, 9))) for _ in range(600)]
    detector = OutlierDetector(text_columns=["message"], contamination=0.02).fit(
        pd.DataFrame({"message": texts})
    )
    odd = pd.DataFrame({"message": ["ZXQV-99812-00213 #### http://x.biz/€€€ 7777777"]})
    normal = pd.DataFrame({"message": ["see you at home later"]})
    assert detector.flag(detector.score(odd))[0]
    assert not detector.flag(detector.score(normal))[0]

    detector.save(tmp_path / "det")
    loaded = OutlierDetector.load(tmp_path / "det")
    assert np.allclose(loaded.score(odd), detector.score(odd))
    assert loaded.threshold == detector.threshold


def test_numeric_detector_flags_far_points():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(500, 3)), columns=["a", "b", "c"])
    detector = OutlierDetector(numeric_columns=["a", "b", "c"]).fit(frame)
    far = pd.DataFrame({"a": [8.0], "b": [-9.0], "c": [7.5]})
    assert detector.flag(detector.score(far))[0]
    flagged = detector.flag(detector.score(frame)).mean()
    assert 0.0 < flagged <= 0.02
