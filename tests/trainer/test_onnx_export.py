"""The ONNX export of each trained version and its parity test."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command

from core import registry
from trainer.config import load_config
from trainer.onnx_export import ExportError, onnx_export, onnx_parity, onnx_predict

ROOT = Path(__file__).resolve().parents[2]
FAST = ["reference.cv_folds=2", "reference.sample_size=300", "outliers.n_estimators=20"]

# What the text analysers and the ONNX string operators disagreed on.
TRICKY = [
    "Thanx a lot 4 ur help!",  # bigrams across one-letter words
    "hello  world\nok\tthen",  # whitespace runs, newline, tab
    "FREE FREE FREE entry, call call now",  # repeated words: sublinear tf
    "",  # no token at all
    "   ",
    "x",
    "WINNER!! £900 prize, claim code KL341 at www.example.co.uk",
]


def _pipeline(**chars):
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    params = {"analyzer": "char_wb", "ngram_range": (2, 5), "sublinear_tf": True}
    params.update(chars)
    return Pipeline(
        [
            (
                "features",
                ColumnTransformer(
                    [
                        (
                            "words",
                            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                            "message",
                        ),
                        ("chars", TfidfVectorizer(**params), "message"),
                    ]
                ),
            ),
            ("classifier", LogisticRegression(C=30.0, max_iter=2000)),
        ]
    )


def _fitted(**chars):
    corpus = pd.DataFrame(
        {
            "message": TRICKY * 3
            + ["see you at 7", "call me later", "free prize now", "urgent win cash"]
        }
    )
    labels = [("ham", "spam")[i % 2] for i in range(len(corpus))]
    return _pipeline(**chars).fit(corpus, labels), corpus


def test_word_and_char_wb_tfidf_convert_with_scikit_learns_numbers():
    # given the default SMS featurisation (words 1-2 and char_wb 2-5, sublinear)
    model, corpus = _fitted()

    # when exported and run in onnxruntime
    export = onnx_export(model, feature_columns=["message"], text_columns=["message"])
    labels, probabilities = onnx_predict(export, corpus)

    # then every row has scikit-learn's label and probabilities
    assert list(labels) == list(model.predict(corpus))
    assert np.abs(probabilities - model.predict_proba(corpus)).max() < 1e-5
    assert export.inputs == [{"name": "message", "type": "string"}]
    assert export.labels == ["ham", "spam"]
    assert export.sha256 == hashlib.sha256(export.model).hexdigest()


def test_char_analyzer_is_refused_with_the_reason():
    model, _corpus = _fitted(analyzer="char")
    with pytest.raises(ExportError, match="collapses whitespace"):
        onnx_export(model, feature_columns=["message"], text_columns=["message"])


def test_parity_report_fails_beyond_the_thresholds():
    model, corpus = _fitted()
    export = onnx_export(model, feature_columns=["message"], text_columns=["message"])

    strict = onnx_parity(
        export,
        model,
        corpus,
        min_label_agreement=1.0,
        max_probability_diff=1e-12,
    )
    usual = onnx_parity(
        export, model, corpus, min_label_agreement=0.999, max_probability_diff=1e-4
    )

    assert usual.passed and usual.rows == len(corpus)
    assert usual.label_agreement == 1.0
    assert not strict.passed
    assert strict.rows_over_tolerance > 0 and strict.worst


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["sms-spam", "breast-cancer"])
def test_every_demo_version_carries_an_onnx_export_that_passes_parity(
    trained_models, name, tmp_path
):
    # given the demo model trained by the session fixture
    result = trained_models[name]
    version = registry.version_get(name, result.version)

    # then the version is tagged with the edge export apart from its tests
    tags = version.tags
    assert tags["modelgate.tests"] == "passed"
    assert tags["modelgate.edge.status"] == "passed"
    assert int(tags["modelgate.edge.opset"]) >= 9

    # and the ONNX file in the run is the one the tags describe
    folder = registry.run_artifact_download(version.run_id, "edge", tmp_path)
    model = (folder / "model.onnx").read_bytes()
    assert hashlib.sha256(model).hexdigest() == tags["modelgate.edge.sha256"]
    meta = json.loads((folder / "export.json").read_text())
    config = load_config(
        ROOT / ("params.yaml" if name == "sms-spam" else "params-tabular.yaml")
    )
    parity = meta["parity"]
    assert parity["rows"] > 100  # the held-out split
    assert parity["label_agreement"] >= config.edge.parity.min_label_agreement
    assert parity["max_probability_diff"] <= config.edge.parity.max_probability_diff
    assert meta["labels"] == tags["modelgate.classes"].split(",")


@pytest.mark.django_db
def test_a_version_failing_parity_is_registered_with_edge_export_failed(
    trained_models,
):
    # given thresholds no float32 graph can meet
    overrides = [
        *FAST,
        "edge.parity.max_probability_diff=1e-12",
        "mlflow.registered_model=edge-parity-failed",
    ]
    args = [a for item in overrides for a in ("--set", item)]

    # when a version is trained
    call_command("train", "--config", str(ROOT / "params-tabular.yaml"), *args)

    # then it is registered, its model tests passed, its edge export failed
    versions = registry.version_list("edge-parity-failed")
    assert len(versions) == 1
    newest = versions[0]
    assert newest.tags["modelgate.tests"] == "passed"
    assert newest.tags["modelgate.edge.status"] == "failed"
    assert newest.tags["modelgate.edge.reason"].startswith("parity:")
