"""The ONNX export of a trained pipeline, for the edge (the browser).

``onnx_export`` converts the fitted scikit-learn pipeline with skl2onnx into
one ONNX graph that takes the model's input columns and returns the label and
the class probabilities; ``onnx_parity`` runs it in onnxruntime beside
scikit-learn on the held-out split. Both are pure functions of the model and
the data: the trainer records their outcome as the version's *edge export*,
apart from the model tests (a version whose export fails is still served
online).

Text vectorisers need care, because scikit-learn's analysers and the ONNX
string operators differ in three places:

- words: skl2onnx turns scikit-learn's default token pattern ``\\b\\w\\w+\\b`` into
  ``[a-zA-Z0-9_]+``, which keeps one-letter tokens and drops non-ASCII letters:
  every bigram across a one-letter word ("thanx a lot") is lost. The export
  passes an RE2 pattern with the same meaning (runs of two or more Unicode
  letters, digits or underscores).
- ``char_wb`` (character n-grams inside word boundaries), which skl2onnx
  refuses, is built here from standard operators: split on whitespace, pad
  each word with a space, cut the words into characters, count n-grams. A
  character n-gram that crosses two words would contain two spaces, which
  ``char_wb`` never produces, so counting over the whole row is exact.
- lowercasing runs in ``StringNormalizer``, whose default locale
  (``en_US.UTF-8``) is missing on minimal Linux machines; ``C.UTF-8`` is in
  every glibc since 2.35 and accepted by onnxruntime-web.

``analyzer="char"`` is not exported: scikit-learn collapses runs of whitespace
before cutting characters and no ONNX operator can do that, so parity would
fail on every message with a double space.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

#: The ONNX operator sets of the export (``StringSplit``/``StringConcat``: 20).
TARGET_OPSET = {"": 21, "ai.onnx.ml": 3}
#: Locale of ``StringNormalizer`` (lowercasing).
LOCALE = "C.UTF-8"
#: scikit-learn's default token pattern and its RE2 equivalent.
SKLEARN_TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # noqa: S105 - a regex
RE2_TOKEN_PATTERN = r"[\p{L}\p{N}_]{2,}"  # noqa: S105 - a regex
LABEL_OUTPUT = "label"
PROBABILITY_OUTPUT = "probabilities"


class ExportError(Exception):
    """The pipeline cannot be exported to ONNX (the message says why)."""


@dataclass(frozen=True)
class OnnxExport:
    """An exported pipeline: the ONNX bytes and what a client needs to run it."""

    model: bytes
    opset: int
    inputs: list[dict[str, str]]  # [{"name", "type": "string" | "float"}]
    labels: list[str]  # order of the probability columns

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.model).hexdigest()


@dataclass
class ParityReport:
    """ONNX against scikit-learn on the same rows."""

    rows: int
    label_agreement: float
    max_probability_diff: float
    rows_over_tolerance: int
    passed: bool
    worst: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------ export
def onnx_export(
    model: Any, *, feature_columns: list[str], text_columns: list[str]
) -> OnnxExport:
    """Convert the fitted ``Pipeline(ColumnTransformer → classifier)``.

    Raises ``ExportError`` with the reason when a part cannot be converted
    faithfully.
    """
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

    options: dict[Any, dict[str, Any]] = {}
    for step in _vectorisers(model):
        _check_vectoriser(step)
        opts: dict[str, Any] = {"locale": LOCALE}
        if step.analyzer == "word":
            opts["tokenexp"] = RE2_TOKEN_PATTERN
        options[id(step)] = opts
    classifier = model.steps[-1][1]
    options[id(classifier)] = {"zipmap": False}
    initial_types = [
        (
            column,
            StringTensorType([None, 1])
            if column in text_columns
            else FloatTensorType([None, 1]),
        )
        for column in feature_columns
    ]
    converters = {
        TfidfVectorizer: _convert_vectoriser,
        CountVectorizer: _convert_vectoriser,
    }
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            onx = convert_sklearn(
                model,
                initial_types=initial_types,
                options=options,
                target_opset=TARGET_OPSET,
                custom_conversion_functions=converters,
                final_types=None,
            )
    except ExportError:
        raise
    except Exception as exc:  # skl2onnx raises many kinds for "not supported"
        raise ExportError(f"skl2onnx: {type(exc).__name__}: {exc}") from exc
    outputs = [o.name for o in onx.graph.output]
    if outputs != [LABEL_OUTPUT, PROBABILITY_OUTPUT]:
        raise ExportError(f"unexpected outputs {outputs}")
    opset = max(o.version for o in onx.opset_import if o.domain in ("", "ai.onnx"))
    return OnnxExport(
        model=onx.SerializeToString(),
        opset=int(opset),
        inputs=[
            {"name": c, "type": "string" if c in text_columns else "float"}
            for c in feature_columns
        ],
        labels=[str(c) for c in classifier.classes_],
    )


def _vectorisers(model: Any) -> list[Any]:
    from sklearn.feature_extraction.text import CountVectorizer

    features = model.steps[0][1]
    found = []
    for _name, step, _cols in getattr(features, "transformers_", []):
        if isinstance(step, CountVectorizer):  # TfidfVectorizer is one too
            found.append(step)
    return found


def _check_vectoriser(step: Any) -> None:
    name = type(step).__name__
    if step.analyzer == "char":
        raise ExportError(
            f"{name}(analyzer='char') collapses whitespace runs, which no ONNX "
            "operator reproduces; use analyzer='char_wb' or 'word'"
        )
    if callable(step.analyzer) or step.tokenizer is not None:
        raise ExportError(f"{name}: a custom analyzer or tokenizer cannot be exported")
    if step.preprocessor is not None or step.strip_accents is not None:
        raise ExportError(f"{name}: preprocessor and strip_accents cannot be exported")
    if step.analyzer == "word" and step.token_pattern != SKLEARN_TOKEN_PATTERN:
        raise ExportError(f"{name}: only the default token_pattern is exported")
    if step.analyzer == "char_wb":
        low = step.ngram_range[0]
        short = [g for g in step.vocabulary_ if len(g) < low]
        if short:
            # char_wb keeps a word shorter than n whole; n-gram counting cannot
            raise ExportError(
                f"{name}: {len(short)} n-grams shorter than ngram_range[0]={low}"
            )


def _convert_vectoriser(scope, operator, container) -> None:
    """skl2onnx's converters, except the counting step of ``char_wb``."""
    from skl2onnx.common._registration import get_converter

    raw = operator.raw_operator
    if operator.type == "SklearnCountVectorizer" and raw.analyzer == "char_wb":
        _char_wb_counts(scope, operator, container)
    elif operator.type == "SklearnTfidfTransformer":
        _tfidf_weights(scope, operator, container)
    else:
        get_converter(operator.type)(scope, operator, container)


def _nodes(scope, container):
    """``var(name)`` and ``node(op_type, inputs, output, **attrs)`` helpers."""
    opset = TARGET_OPSET[""]

    def var(name: str) -> str:
        return scope.get_unique_variable_name(name)

    def node(op_type: str, inputs, output, domain: str = "", **attrs):
        container.add_node(
            op_type,
            inputs,
            output,
            op_domain=domain,
            op_version=1 if domain == "com.microsoft" else opset,
            name=scope.get_unique_operator_name(op_type),
            **attrs,
        )
        return output

    return var, node


def _tfidf_weights(scope, operator, container) -> None:
    """Counts → TF-IDF as scikit-learn computes it.

    skl2onnx's own converter takes ``log(1 + tf)`` for ``sublinear_tf`` where
    scikit-learn takes ``1 + log(tf)``; and its L2 ``Normalizer`` divides an
    all-zero row by zero.
    """
    from onnx import TensorProto

    op = operator.raw_operator
    var, node = _nodes(scope, container)
    x = operator.inputs[0].full_name

    def const(name: str, values, shape) -> str:
        full = var(name)
        container.add_initializer(full, TensorProto.FLOAT, shape, values)
        return full

    zero, one = const("zero", [0.0], []), const("one", [1.0], [])
    if op.sublinear_tf:
        logged = node("Log", x, var("log_tf"))
        plus = node("Add", [logged, one], var("log_tf_1"))
        present = node("Greater", [x, zero], var("present"))
        x = node("Where", [present, plus, zero], var("sublinear_tf"))
    if op.use_idf:
        idf = const("idf", op.idf_.astype(np.float32).tolist(), [len(op.idf_)])
        x = node("Mul", [x, idf], var("tfidf"))
    out = operator.outputs[0].full_name
    if op.norm == "l2":
        axes = var("axes")
        container.add_initializer(axes, TensorProto.INT64, [1], [1])
        squares = node("ReduceSumSquare", [x, axes], var("squares"), keepdims=1)
        norm = node("Sqrt", squares, var("norm"))
        tiny = const("tiny", [1e-30], [])
        norm = node("Max", [norm, tiny], var("safe_norm"))
        node("Div", [x, norm], out)
    elif op.norm is None:
        node("Identity", x, out)
    else:
        raise ExportError(f"{type(op).__name__}: norm={op.norm!r} is not exported")


def _char_wb_counts(scope, operator, container) -> None:
    """Counts of ``char_wb`` n-grams, ``[N, vocabulary]`` floats.

    lowercase → split on whitespace → " " + word + " " → characters →
    n-gram counts over the row.
    """
    from onnx import TensorProto

    op = operator.raw_operator
    var, node = _nodes(scope, container)
    shape = var("flat_shape")
    container.add_initializer(shape, TensorProto.INT64, [1], [-1])
    text = node("Reshape", [operator.inputs[0].full_name, shape], var("text"))
    if op.lowercase:
        locale = container.get_options(op, {"locale": LOCALE}).get("locale")
        text = node(
            "StringNormalizer",
            text,
            var("lower"),
            case_change_action="LOWER",
            is_case_sensitive=True,
            locale=locale or LOCALE,
        )
    # Words as str.split() cuts them (ONNX's StringSplit cuts at spaces only).
    # The padding of short rows is a space: "   " holds no char_wb n-gram.
    words = node(
        "Tokenizer",
        text,
        var("words"),
        domain="com.microsoft",
        mark=0,
        mincharnum=1,
        pad_value=" ",
        tokenexp=f"[^{_whitespace_class()}]+",
    )
    space = var("space")
    container.add_initializer(space, TensorProto.STRING, [], [b" "])
    padded = node("StringConcat", [space, words], var("lead"))
    padded = node("StringConcat", [padded, space], var("padded"))
    chars = node(
        "Tokenizer",
        padded,
        var("chars"),
        domain="com.microsoft",
        mark=0,
        mincharnum=1,
        pad_value="<pad>",  # longer than one character: never in the pool
        tokenexp="(?s).",
    )
    flat = node("Flatten", chars, var("row_chars"), axis=1)

    # The pool: n-grams grouped by length, each cut into characters.
    low, high = op.ngram_range
    by_length = sorted(op.vocabulary_.items(), key=lambda kv: (len(kv[0]), kv[0]))
    pool = [gram for gram, _index in by_length]
    elements = [ch for gram in pool for ch in gram]
    offsets = _offsets(pool, high)
    indexes = [index for _gram, index in by_length]
    counts = var("counts")
    node(
        "TfIdfVectorizer",
        flat,
        counts,
        min_gram_length=low,
        max_gram_length=high,
        max_skip_count=0,
        mode="TF",
        pool_strings=elements,
        ngram_counts=offsets,
        ngram_indexes=indexes,
        weights=[1.0] * len(indexes),
    )
    out = operator.outputs[0].full_name
    if op.binary:
        flags = node("Cast", counts, var("flags"), to=TensorProto.BOOL)
        node("Cast", flags, out, to=TensorProto.FLOAT)
    else:
        node("Identity", counts, out)


def _whitespace_class() -> str:
    """An RE2 character class of what ``str.split()`` cuts at."""
    spaces = [c for c in range(0x110000) if chr(c).isspace()]
    return "".join(f"\\x{{{c:x}}}" for c in spaces)


def _offsets(pool: list[str], high: int) -> list[int]:
    """Where the n-grams of length 1, 2, ... start, in pool elements."""
    offsets, position = [], 0
    for n in range(1, high + 1):
        offsets.append(position)
        position += sum(n for g in pool if len(g) == n)
    return offsets


# ------------------------------------------------------------------ parity
def onnx_predict(
    export: OnnxExport, frame: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Labels and probabilities of ``frame`` from the ONNX model (onnxruntime)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(
        export.model, options, providers=["CPUExecutionProvider"]
    )
    feeds = {}
    for spec in export.inputs:
        column = frame[spec["name"]]
        if spec["type"] == "string":
            feeds[spec["name"]] = column.astype(str).to_numpy(dtype=object)[:, None]
        else:
            feeds[spec["name"]] = column.to_numpy(dtype=np.float32)[:, None]
    labels, probabilities = session.run([LABEL_OUTPUT, PROBABILITY_OUTPUT], feeds)
    return np.asarray(labels).astype(str), np.asarray(probabilities, dtype=np.float64)


def onnx_parity(
    export: OnnxExport,
    model: Any,
    frame: pd.DataFrame,
    *,
    min_label_agreement: float,
    max_probability_diff: float,
) -> ParityReport:
    """Run both on ``frame``: the share of equal labels and the largest
    difference of a class probability. Passes when at least
    ``min_label_agreement`` of the labels agree and no probability differs by
    more than ``max_probability_diff``."""
    labels, probabilities = onnx_predict(export, frame)
    expected_labels = np.asarray(model.predict(frame)).astype(str)
    expected = np.asarray(model.predict_proba(frame), dtype=np.float64)
    diff = np.abs(probabilities - expected).max(axis=1)
    agreement = float((labels == expected_labels).mean()) if len(frame) else 1.0
    over = int((diff > max_probability_diff).sum())
    worst = [
        {
            "row": int(i),
            "onnx": labels[i],
            "sklearn": expected_labels[i],
            "probability_diff": float(diff[i]),
        }
        for i in np.argsort(-diff)[:5]
        if diff[i] > max_probability_diff or labels[i] != expected_labels[i]
    ]
    return ParityReport(
        rows=len(frame),
        label_agreement=agreement,
        max_probability_diff=float(diff.max()) if len(frame) else 0.0,
        rows_over_tolerance=over,
        passed=agreement >= min_label_agreement and over == 0,
        worst=worst,
    )
