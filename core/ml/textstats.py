"""Numeric descriptors of short texts: pure functions over sequences of strings.

Used by the trainer (the outlier detector of text models is fitted on them),
by inference (scoring a request) and by monitoring (text drift through
descriptors). Vectorised with pandas string methods: 10k texts take ~40 ms.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

TOKEN_RE = re.compile(r"[a-z0-9']+")
URL_RE = r"(?:https?://|www\.|\.(?:com|net|org|co\.uk|biz|info)\b)"
CURRENCY_WORD_RE = r"\b(?:gbp|usd|eur|pounds?|dollars?)\b"
CURRENCY_RE = r"[£$€¥]|" + CURRENCY_WORD_RE

DESCRIPTORS = (
    "length",
    "words",
    "digit_share",
    "non_letter_share",
    "upper_share",
    "has_url",
    "has_currency",
    "oov_share",
)


def tokenize(text: str) -> list[str]:
    return TOKEN_RE.findall(text.lower())


def vocabulary(texts: Iterable[str], min_count: int = 1) -> set[str]:
    """Words seen at least ``min_count`` times in ``texts``."""
    counts: dict[str, int] = {}
    for text in texts:
        for token in tokenize(text):
            counts[token] = counts.get(token, 0) + 1
    return {t for t, c in counts.items() if c >= min_count}


def _oov_share(texts: pd.Series, vocab: set[str]) -> np.ndarray:
    out = np.zeros(len(texts), dtype=float)
    for i, text in enumerate(texts):
        tokens = tokenize(text)
        if tokens:
            out[i] = sum(t not in vocab for t in tokens) / len(tokens)
    return out


def describe(
    texts: Sequence[str] | pd.Series, vocab: set[str] | None = None
) -> pd.DataFrame:
    """One row per text, one column per descriptor of ``DESCRIPTORS``.

    ``oov_share`` (share of words not in ``vocab``) is 0 when no vocabulary is given.
    """
    s = pd.Series(texts, dtype="object").fillna("").astype(str).reset_index(drop=True)
    length = s.str.len().to_numpy(dtype=float)
    safe = np.maximum(length, 1.0)
    letters = s.str.count(r"[^\W\d_]").to_numpy(dtype=float)
    digits = s.str.count(r"\d").to_numpy(dtype=float)
    upper = s.str.count(r"[A-Z]").to_numpy(dtype=float)
    frame = pd.DataFrame(
        {
            "length": length,
            "words": s.str.split().str.len().fillna(0).to_numpy(dtype=float),
            "digit_share": digits / safe,
            "non_letter_share": (length - letters) / safe,
            "upper_share": upper / np.maximum(letters, 1.0),
            "has_url": s.str.contains(URL_RE, case=False, regex=True).to_numpy(
                dtype=float
            ),
            "has_currency": s.str.contains(
                CURRENCY_RE, case=False, regex=True
            ).to_numpy(dtype=float),
            "oov_share": _oov_share(s, vocab) if vocab else np.zeros(len(s)),
        }
    )
    return frame[list(DESCRIPTORS)]
