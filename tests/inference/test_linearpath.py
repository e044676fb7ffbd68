"""The linear fast path gives the pipeline's own probabilities (pure, no database)."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from inference import linearpath
from inference.linearpath import compile_linear_rows, verified_rows

WORDS = [
    "free",
    "win",
    "prize",
    "call",
    "now",
    "txt",
    "claim",
    "cash",
    "urgent",
    "hello",
    "see",
    "you",
    "later",
    "lunch",
    "tomorrow",
    "ok",
    "love",
    "mum",
    "£1000",
    "0800",
    "www.win.com",
    "Ünïcode",
    "ÉCOLE",
    "🙂",
    "can't",
    "it's",
    "T&C's",
    "2nd",
]


def messages(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        words = rng.choices(WORDS, k=rng.randint(0, 25))
        sep = rng.choice([" ", "  ", "\t", "\n", ", ", "!! "])
        out.append(sep.join(words))
    out += ["", "a" * 300, "   ", "UPPER lower MiXeD", "unseenword anotherone"]
    return out


def labels_for(texts: list[str]) -> list[str]:
    spam = {"free", "win", "prize", "claim", "cash", "urgent", "£1000", "0800"}
    return ["spam" if len(spam & set(t.lower().split())) >= 2 else "ham" for t in texts]


def text_pipeline(vectorizer) -> Pipeline:
    pipe = Pipeline(
        [
            ("columns", ColumnTransformer([("text", vectorizer, "message")])),
            ("clf", LogisticRegression(C=3.0, max_iter=500)),
        ]
    )
    train = messages(400, seed=1)
    pipe.fit(pd.DataFrame({"message": train}), labels_for(train))
    return pipe


VECTORIZERS = {
    "tfidf_char_wb_sublinear": lambda: TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, min_df=2
    ),
    "tfidf_word_bigrams": lambda: TfidfVectorizer(ngram_range=(1, 2)),
    "tfidf_l1_no_idf": lambda: TfidfVectorizer(norm="l1", use_idf=False),
    "tfidf_char_binary": lambda: TfidfVectorizer(analyzer="char", binary=True),
    "count_word": lambda: CountVectorizer(lowercase=False),
    "count_char_wb_binary": lambda: CountVectorizer(
        analyzer="char_wb", ngram_range=(1, 3), binary=True
    ),
}


@pytest.mark.parametrize("kind", sorted(VECTORIZERS))
@pytest.mark.parametrize("rows", [1, 4, 5, 60])
def test_text_pipelines_match_predict_proba(kind, rows):
    pipe = text_pipeline(VECTORIZERS[kind]())
    fast = compile_linear_rows(pipe)
    assert fast is not None
    texts = messages(rows, seed=7)[:rows]
    batch = [{"message": t} for t in texts]
    expected = pipe.predict_proba(pd.DataFrame({"message": texts}))
    np.testing.assert_allclose(fast(batch), expected, rtol=1e-9, atol=1e-12)
    # a word seen before (cached n-grams) gives the same answer again
    np.testing.assert_allclose(fast(batch), expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("hash_from", [0, 10**9])
@pytest.mark.parametrize("kind", ["tfidf_char_wb_sublinear", "tfidf_word_bigrams"])
def test_grouping_by_hash_or_by_sort_gives_the_pipelines_answers(
    monkeypatch, kind, hash_from
):
    monkeypatch.setattr(linearpath, "HASH_GROUP_FROM", hash_from)
    pipe = text_pipeline(VECTORIZERS[kind]())
    fast = compile_linear_rows(pipe)
    texts = messages(150, seed=3)
    expected = pipe.predict_proba(pd.DataFrame({"message": texts}))
    got = fast([{"message": t} for t in texts])
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("size", [0, 1, 7, 511, 512, 5000])
def test_group_is_unique_with_inverse_in_any_order(size):
    keys = np.random.default_rng(size).integers(0, max(size // 3, 1), size)
    distinct, where = linearpath._group(keys)
    assert len(set(distinct.tolist())) == len(distinct)  # each key once
    assert sorted(distinct.tolist()) == sorted(set(keys.tolist()))
    np.testing.assert_array_equal(distinct[where], keys)


def test_tabular_multiclass_with_scaler_and_passthrough():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.normal(size=(300, 4)), columns=["a", "b", "c", "d"])
    target = np.digitize(frame["a"] + frame["c"], [-0.5, 0.5])  # three classes
    pipe = Pipeline(
        [
            (
                "columns",
                ColumnTransformer(
                    [
                        ("scaled", StandardScaler(), ["a", "b"]),
                        ("raw", "passthrough", ["c", "d"]),
                    ]
                ),
            ),
            ("clf", LogisticRegression(max_iter=500)),
        ]
    ).fit(frame, target)
    fast = compile_linear_rows(pipe)
    assert fast is not None
    for n in (1, 3, 50):
        rows = frame.head(n).to_dict(orient="records")
        np.testing.assert_allclose(
            fast(rows), pipe.predict_proba(frame.head(n)), rtol=1e-9, atol=1e-12
        )


def test_mixed_text_and_numbers():
    texts = messages(200, seed=5)
    frame = pd.DataFrame({"message": texts, "hour": np.arange(len(texts)) % 24})
    pipe = Pipeline(
        [
            (
                "columns",
                ColumnTransformer(
                    [
                        ("text", TfidfVectorizer(), "message"),
                        ("num", StandardScaler(), ["hour"]),
                    ]
                ),
            ),
            ("clf", LogisticRegression(max_iter=500)),
        ]
    ).fit(frame, labels_for(texts))
    fast = compile_linear_rows(pipe)
    rows = frame.head(12).to_dict(orient="records")
    np.testing.assert_allclose(
        fast(rows), pipe.predict_proba(frame.head(12)), rtol=1e-9, atol=1e-12
    )


def test_other_shapes_are_not_compiled():
    texts = messages(100)
    forest = Pipeline(
        [
            ("columns", ColumnTransformer([("text", CountVectorizer(), "message")])),
            ("clf", RandomForestClassifier(n_estimators=3, random_state=0)),
        ]
    ).fit(pd.DataFrame({"message": texts}), labels_for(texts))
    assert compile_linear_rows(forest) is None
    callable_analyzer = text_pipeline(CountVectorizer(analyzer=str.split))
    assert compile_linear_rows(callable_analyzer) is None
    remainder = Pipeline(
        [
            (
                "columns",
                ColumnTransformer(
                    [("text", CountVectorizer(), "message")], remainder="passthrough"
                ),
            ),
            ("clf", LogisticRegression()),
        ]
    ).fit(pd.DataFrame({"message": texts, "x": range(len(texts))}), labels_for(texts))
    assert compile_linear_rows(remainder) is None


def test_verification_rejects_a_predictor_that_disagrees():
    pipe = text_pipeline(TfidfVectorizer())
    fast = compile_linear_rows(pipe)
    texts = messages(5)
    samples = [([{"message": t} for t in texts], pd.DataFrame({"message": texts}))]
    assert verified_rows(pipe, fast, samples) is fast

    def off_by_a_little(rows):
        return fast(rows) + 1e-6

    def broken(rows):
        raise KeyError("message")

    assert verified_rows(pipe, off_by_a_little, samples) is None
    assert verified_rows(pipe, broken, samples) is None
    assert verified_rows(pipe, None, samples) is None


def test_default_tokens_are_scikit_learns_on_every_sms_message():
    import re
    from pathlib import Path

    from inference.linearpath import SKLEARN_WORD_PATTERN, _default_tokens

    path = Path(__file__).resolve().parents[2] / "data/sms_spam/SMSSpamCollection"
    texts = [line.split("\t", 1)[1].lower() for line in path.read_text().splitlines()]
    texts += [t.upper() for t in texts[:200]]
    texts += [
        "a_b c__d _e_ x 12 3rd 4-5 it's",
        "\t\n\x0b\x0c",
        "",
        "Ünïcode ÉCOLE 🙂 x",
    ]
    findall = re.compile(SKLEARN_WORD_PATTERN).findall
    tokens = _default_tokens(findall)
    assert TfidfVectorizer().token_pattern == SKLEARN_WORD_PATTERN
    for text in texts:
        assert tokens(text) == findall(text), text


def test_a_full_word_store_starts_afresh_and_answers_the_same(monkeypatch):
    from inference import linearpath

    monkeypatch.setattr(linearpath, "WORD_CACHE_LIMIT", 7)
    pipe = text_pipeline(VECTORIZERS["tfidf_char_wb_sublinear"]())
    fast = compile_linear_rows(pipe)
    for seed in range(6):  # every batch has more new words than the limit
        texts = messages(30, seed=seed)
        expected = pipe.predict_proba(pd.DataFrame({"message": texts}))
        got = fast([{"message": t} for t in texts])
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_threads_sharing_a_word_store_get_the_pipelines_answers(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from inference import linearpath

    monkeypatch.setattr(linearpath, "WORD_CACHE_LIMIT", 40)  # resets under way
    pipe = text_pipeline(VECTORIZERS["tfidf_char_wb_sublinear"]())
    fast = compile_linear_rows(pipe)
    batches = [messages(12, seed=100 + i) for i in range(40)]
    expected = [pipe.predict_proba(pd.DataFrame({"message": b})) for b in batches]

    def predict(texts):
        return fast([{"message": t} for t in texts])

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(predict, batches * 3))
    for got, want in zip(results, expected * 3, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_a_compiled_model_is_freed_without_the_cycle_collector():
    # workers freeze start-up objects out of the collector (config/gunicorn.py):
    # an unloaded model must go by reference counting alone
    import gc
    import weakref

    pipe = text_pipeline(VECTORIZERS["tfidf_char_wb_sublinear"]())
    fast = compile_linear_rows(pipe)
    fast([{"message": t} for t in messages(5)])
    cells = [c.cell_contents for c in fast.__closure__]
    parts = next(c for c in cells if isinstance(c, list) and c)
    refs = [weakref.ref(part) for part in parts]
    refs += [weakref.ref(part.word_store) for part in parts if part.by_word]
    gc.disable()
    try:
        del fast, cells, parts
        assert all(ref() is None for ref in refs)
    finally:
        gc.enable()
