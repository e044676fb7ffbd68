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


def test_frame_hash_survives_a_parquet_round_trip_and_sees_every_change(tmp_path):
    from core.ml.evaluation import frame_sha256

    frame = pd.DataFrame(
        {"message": ["hi", "WIN £900"], "x": [1.5, float("nan")], "label": ["a", "b"]}
    )
    frame.to_parquet(tmp_path / "set.parquet")
    again = pd.read_parquet(tmp_path / "set.parquet")

    assert frame_sha256(again) == frame_sha256(frame)
    changed = frame.copy()
    changed.loc[1, "label"] = "a"
    for other in (changed, frame.iloc[::-1], frame.rename(columns={"x": "y"})):
        assert frame_sha256(other) != frame_sha256(frame)
