"""The fastest way through a linear model over text and numbers.

For ``Pipeline([ColumnTransformer, LogisticRegression])`` where every
transformer is a ``TfidfVectorizer``/``CountVectorizer`` on one text column, a
``StandardScaler`` or ``passthrough`` on numeric columns, the class
probabilities are a few dictionary lookups per token away:

    decision_k = intercept_k + Σ_parts Σ_features x_j · coef_kj

This module computes exactly that for all rows of a request at once: the
(row, feature, count) triples of every token, summed per cell with numpy,
weighted (TF-IDF, sublinear TF, norm) and dotted with the coefficients. The
tokens are the vectorisers' own (their preprocessor, tokenizer and n-gram
rules), but no DataFrame, sparse matrix or scikit-learn input validation is
built, which cost far more than the arithmetic for a short message. For
``char_wb`` n-grams, which never cross a word boundary, the n-gram counts of
each word are computed once and remembered, so a message costs about one
dictionary lookup per word.

It is used only when a self-check at load time gives the same probabilities
as the pipeline's own ``predict_proba`` (``verified_rows``); any other model
keeps the standard path.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from functools import partial
from itertools import repeat
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

WORD_CACHE_LIMIT = 200_000  # words remembered per char_wb vectoriser
HASH_GROUP_FROM = 512  # keys from which hashing beats sorting (measured)
RowsPredictor = Callable[[Sequence[dict]], np.ndarray]


SKLEARN_WORD_PATTERN = r"(?u)\b\w\w+\b"  # scikit-learn's: runs of 2+ word characters
# bytes that are not word characters (ASCII [A-Za-z0-9_]) become spaces
_ASCII_NON_WORD = bytes(
    b if (chr(b).isalnum() or b == ord("_")) and b < 128 else ord(" ")
    for b in range(256)
)


def _default_tokens(findall: Callable[[str], list[str]]) -> Callable[[str], list[str]]:
    """The default token pattern's ``findall``, by ``bytes.translate`` and
    ``split`` on ASCII text (the same runs of word characters, several times
    faster); other text keeps the regular expression."""

    def tokens(text: str) -> list[str]:
        if not text.isascii():
            return findall(text)
        words = text.encode("ascii").translate(_ASCII_NON_WORD).decode("ascii")
        return [word for word in words.split() if len(word) > 1]

    return tokens


class _WordStore:
    """The n-gram counts of every word seen, in flat arrays.

    A word's features and counts sit at ``start[id] : start[id] + size[id]``
    of ``features`` and ``counts``; ``lookup`` gathers the entries of a list
    of words with a few numpy operations instead of concatenating one small
    array per word. Words are added under a lock; a reader keeps the state it
    started with, which later words only extend, so a request never mixes two
    states. A request whose new words would take the store past
    ``WORD_CACHE_LIMIT`` words starts a fresh state.
    """

    class _State:
        def __init__(self) -> None:
            self.ids: dict[str, int] = {}
            self.start = np.zeros(1024, dtype=np.int64)
            self.size = np.zeros(1024, dtype=np.int64)
            self.features = np.zeros(16384, dtype=np.int64)
            self.counts = np.zeros(16384, dtype=float)
            self.used = 0  # entries of features/counts in use

    def __init__(self, compute: Callable[[str], dict[int, int]]) -> None:
        self.compute = compute
        self._lock = threading.Lock()
        self._state = self._State()

    def lookup(self, words: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(features, counts) of every n-gram of ``words`` in order, and how
        many belong to each word."""
        state = self._state
        try:
            ids = list(map(state.ids.__getitem__, words))
        except KeyError:
            with self._lock:
                state = self._add(words)
                ids = list(map(state.ids.__getitem__, words))
        index = np.array(ids, dtype=np.int64)
        sizes = state.size[index]
        total = int(sizes.sum())
        ends = np.cumsum(sizes)
        positions = np.repeat(state.start[index] - (ends - sizes), sizes)
        positions += np.arange(total)
        return state.features[positions], state.counts[positions], sizes

    def _add(self, words: list[str]) -> _State:
        """Store ``words`` (caller holds the lock); returns a state holding
        all of them (a fresh one when the current one is full: the words of
        the current request are stored in it again, even beyond the limit)."""
        state = self._state
        distinct = list(dict.fromkeys(words))
        missing = [w for w in distinct if w not in state.ids]
        if len(state.ids) + len(missing) > WORD_CACHE_LIMIT:
            state = self._state = self._State()
            missing = distinct
        for word in missing:
            counts = self.compute(word)
            n, used, slot = len(counts), state.used, len(state.ids)
            if slot >= len(state.start):
                state.start = np.concatenate([state.start, np.zeros_like(state.start)])
                state.size = np.concatenate([state.size, np.zeros_like(state.size)])
            if used + n > len(state.features):
                grow = max(len(state.features), n)
                state.features = np.concatenate(
                    [state.features, np.zeros(grow, np.int64)]
                )
                state.counts = np.concatenate([state.counts, np.zeros(grow)])
            state.features[used : used + n] = list(counts)
            state.counts[used : used + n] = list(counts.values())
            state.start[slot], state.size[slot] = used, n
            state.used = used + n
            state.ids[word] = slot  # last: a visible id has its entries written
        return state


def _word_counts(
    vocabulary: dict[str, int], ngrams: Callable[[str], list[str]], word: str
) -> dict[int, int]:
    """Feature → count of the word's n-grams that are in the vocabulary."""
    counts: dict[int, int] = {}
    for gram in ngrams(word):
        j = vocabulary.get(gram)
        if j is not None:
            counts[j] = counts.get(j, 0) + 1
    return counts


class _TextPart:
    """One fitted Tfidf/CountVectorizer on one text column, folded with the
    classifier's coefficients of its features."""

    def __init__(self, vectorizer: Any, column: str, coef: np.ndarray, tfidf: bool):
        self.column = column
        self.vocabulary = vectorizer.vocabulary_
        self.decode = vectorizer.decode
        self.binary = bool(vectorizer.binary)
        self.sublinear = bool(tfidf and vectorizer.sublinear_tf)
        use_idf = tfidf and vectorizer.use_idf
        self.norm = vectorizer.norm if tfidf else None
        self.weight_matrix = np.ascontiguousarray(coef.T)  # (features, classes)
        self.idf_array = vectorizer.idf_ if use_idf else None
        self.n_features = coef.shape[1]
        self.classes = coef.shape[0]
        self.by_word = vectorizer.analyzer == "char_wb"
        self.tokenize = None
        if self.by_word:
            self.preprocess = vectorizer.build_preprocessor()
            # every word's n-gram counts in the vocabulary
            # (not a bound method of this part: no reference cycle, so an
            # unloaded model is freed at once, even from gc.freeze()'s
            # permanent generation)
            self.word_store = _WordStore(
                partial(_word_counts, self.vocabulary, vectorizer._char_wb_ngrams)
            )
        else:
            self.analyze = vectorizer.build_analyzer()
            if vectorizer.analyzer == "word" and vectorizer.get_stop_words() is None:
                # the analyser's own steps, with the n-grams joined by C loops
                self.preprocess = vectorizer.build_preprocessor()
                self.tokenize = vectorizer.build_tokenizer()
                if (
                    vectorizer.tokenizer is None
                    and vectorizer.token_pattern == SKLEARN_WORD_PATTERN
                ):
                    self.tokenize = _default_tokens(self.tokenize)
                self.ngram_range = tuple(vectorizer.ngram_range)

    def grams(self, document: str) -> list[str]:
        """The document's tokens and n-grams, as the vectoriser's analyser
        makes them (``_word_ngrams`` without stop words), in the same order."""
        if self.tokenize is None:
            return self.analyze(document)
        tokens = self.tokenize(self.preprocess(self.decode(document)))
        min_n, max_n = self.ngram_range
        if max_n == 1:
            return tokens
        grams = list(tokens) if min_n == 1 else []
        for n in range(max(min_n, 2), min(max_n, len(tokens)) + 1):
            shifted = [tokens[i:] for i in range(n)]  # n-grams end with the shortest
            grams.extend(map(" ".join, zip(*shifted, strict=False)))
        return grams

    def _pairs(self, rows: Sequence[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row index, feature, count) of every token occurrence of the rows,
        a feature possibly several times per row."""
        n = len(rows)
        column = self.column
        if self.by_word:
            words: list[str] = []
            per_row = np.zeros(n, dtype=np.int64)
            preprocess, decode = self.preprocess, self.decode
            for i, row in enumerate(rows):
                split = preprocess(decode(row[column])).split()
                words.extend(split)
                per_row[i] = len(split)
            if not words:
                return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
            feature_array, count_array, sizes = self.word_store.lookup(words)
            word_rows = np.repeat(np.arange(n, dtype=np.int64), per_row)
            return np.repeat(word_rows, sizes), feature_array, count_array
        grams: list[str] = []
        lengths = np.zeros(n, dtype=np.int64)
        for i, row in enumerate(rows):
            own = self.grams(row[column])
            grams.extend(own)
            lengths[i] = len(own)
        # -1 for a gram outside the vocabulary, dropped below
        looked_up = map(self.vocabulary.get, grams, repeat(-1))
        feature_array = np.fromiter(looked_up, np.int64, len(grams))
        known = feature_array >= 0
        row_array = np.repeat(np.arange(n, dtype=np.int64), lengths)[known]
        feature_array = feature_array[known]
        return row_array, feature_array, np.ones(len(feature_array))

    def add_to_all(self, rows: Sequence[dict], decisions: np.ndarray) -> None:
        """Add the part's contribution for all rows at once: the counts of
        each (row, feature) cell summed, weighted and normalised as the
        vectoriser would, dotted with the coefficients."""
        n = len(rows)
        row_array, feature_array, count_array = self._pairs(rows)
        if not len(feature_array):
            return
        # sum the counts of each (row, feature): one key per cell
        keys, where = _group(row_array * self.n_features + feature_array)
        data = np.bincount(where, weights=count_array)
        per_row = keys // self.n_features
        features = keys - per_row * self.n_features
        if self.binary:
            data.fill(1.0)
        if self.sublinear:
            np.log(data, data)
            data += 1.0
        if self.idf_array is not None:
            data *= self.idf_array[features]
        if self.norm is not None:
            if self.norm == "l2":
                scale = np.sqrt(np.bincount(per_row, data * data, n))
            elif self.norm == "l1":
                scale = np.bincount(per_row, np.abs(data), n)
            else:
                scale = np.zeros(n)
                np.maximum.at(scale, per_row, np.abs(data))
            scale[scale == 0.0] = 1.0
            data /= scale[per_row]
        weights = self.weight_matrix[features]
        for k in range(self.classes):
            decisions[:, k] += np.bincount(per_row, data * weights[:, k], n)


def _group(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct keys and each key's index among them, as
    ``np.unique(keys, return_inverse=True)`` but not sorted: from a few hundred
    keys pandas' ``factorize`` (a hash table) is 2-3 times faster than the
    sort (30,000 keys, 100 SMS messages' n-grams: 1.1 against 2.1 ms).
    Callers only sum per key, so the order does not matter."""
    if len(keys) >= HASH_GROUP_FROM:
        where, distinct = pd.factorize(keys)
        return distinct, where
    return np.unique(keys, return_inverse=True)


class _NumericPart:
    """Numeric columns, standardised (StandardScaler) or passed through."""

    def __init__(self, columns: list[str], coef: np.ndarray, scaler: Any | None):
        self.columns = columns
        self.weights = coef.T  # (features, classes)
        n = len(columns)
        mean = getattr(scaler, "mean_", None) if scaler is not None else None
        scale = getattr(scaler, "scale_", None) if scaler is not None else None
        self.mean = np.asarray(mean, dtype=float) if mean is not None else np.zeros(n)
        self.scale = np.asarray(scale, dtype=float) if scale is not None else np.ones(n)

    def add_to_all(self, rows: Sequence[dict], decisions: np.ndarray) -> None:
        values = np.array(
            [[float(row[c]) for c in self.columns] for row in rows], dtype=float
        )
        decisions += ((values - self.mean) / self.scale) @ self.weights


def _is_identity(transformer: Any) -> bool:
    """A fitted ColumnTransformer stores ``"passthrough"`` as an identity
    FunctionTransformer."""
    from sklearn.preprocessing import FunctionTransformer

    return type(transformer) is FunctionTransformer and transformer.func is None


def _parts(columns_step: Any, coef: np.ndarray) -> list | None:
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.preprocessing import StandardScaler

    parts: list = []
    for name, transformer, columns in columns_step.transformers_:
        if isinstance(transformer, str) and transformer == "drop":
            continue
        if name == "remainder":
            return None
        block = coef[:, columns_step.output_indices_[name]]
        if isinstance(transformer, CountVectorizer) and isinstance(columns, str):
            if callable(transformer.analyzer) or transformer.input != "content":
                return None
            tfidf = isinstance(transformer, TfidfVectorizer)
            parts.append(_TextPart(transformer, columns, block, tfidf))
        elif isinstance(columns, list | tuple) and all(
            isinstance(c, str) for c in columns
        ):
            if transformer == "passthrough" or _is_identity(transformer):
                parts.append(_NumericPart(list(columns), block, None))
            elif type(transformer) is StandardScaler:
                parts.append(_NumericPart(list(columns), block, transformer))
            else:
                return None
        else:
            return None
    return parts


def compile_linear_rows(model: Any) -> RowsPredictor | None:
    """A function ``rows -> probabilities`` equal to ``model.predict_proba``
    of the same rows as a DataFrame, or None when the model has another shape."""
    from scipy.special import expit, softmax
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    if not isinstance(model, Pipeline) or len(model.steps) != 2:
        return None
    columns_step, estimator = model.steps[0][1], model.steps[1][1]
    if not isinstance(columns_step, ColumnTransformer) or (
        type(estimator) is not LogisticRegression
    ):
        return None
    coef = np.asarray(estimator.coef_, dtype=float)
    intercept = np.asarray(estimator.intercept_, dtype=float)
    binary = len(estimator.classes_) <= 2
    parts = _parts(columns_step, coef)
    if not parts:
        return None
    text_parts = [p for p in parts if isinstance(p, _TextPart)]
    numeric_parts = [p for p in parts if isinstance(p, _NumericPart)]

    def predict_proba(rows: Sequence[dict]) -> np.ndarray:
        decisions = np.tile(intercept, (len(rows), 1))
        for part in numeric_parts:
            part.add_to_all(rows, decisions)
        for part in text_parts:
            part.add_to_all(rows, decisions)
        if binary:
            positive = expit(decisions[:, 0])
            return np.column_stack([1.0 - positive, positive])
        return softmax(decisions, axis=1)

    return predict_proba


def verified_rows(
    model: Any,
    fast: RowsPredictor | None,
    samples: Sequence[tuple[Sequence[dict], Any]],
) -> RowsPredictor | None:
    """``fast`` if, for every ``(rows, frame)`` sample, it reproduces
    ``model.predict_proba(frame)``."""
    if fast is None:
        return None
    try:
        for rows, frame in samples:
            expected = model.predict_proba(frame)
            got = fast(rows)
            if got.shape != expected.shape or not np.allclose(
                got, expected, rtol=1e-9, atol=1e-12
            ):
                logger.warning("linear fast path disagrees with the pipeline; not used")
                return None
    except Exception:
        logger.warning("linear fast path failed its self-check", exc_info=True)
        return None
    return fast
