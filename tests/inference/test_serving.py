"""The served model's parts that the split of the model cache made visible:
the rows the fast paths are checked on, the machine's alias record, and a
refused request recorded with the version that refused it."""

from __future__ import annotations

import json
from pathlib import Path

from inference.models import RequestError
from inference.serving import ServedModel, model_cache
from inference.serving.local import LocalCopies
from inference.serving.served import SHAPE_TEXTS, sample_rows
from inference.validation import Field

SMS_DATA = (
    Path(__file__).resolve().parents[2] / "data" / "sms_spam" / "SMSSpamCollection"
)


def _served(*fields: Field) -> ServedModel:
    return ServedModel(
        name="m",
        version=1,
        run_id="",
        inputs=fields,
        classes=(),
        task="classification",
        tags={},
        predictor=None,
        raw=True,
    )


def test_fast_paths_are_checked_on_the_versions_example_and_generic_shapes(
    tmp_path,
):
    # given a version whose logged input example has its own domain's rows
    example = tmp_path / "model" / "input_example.json"
    example.parent.mkdir()
    example.write_text(
        json.dumps(
            {"columns": ["text", "x", "ok"], "data": [["domain row", 2.5, True]]}
        )
    )
    served = _served(
        Field(name="text", type="string", required=True),
        Field(name="x", type="double", required=True),
        Field(name="ok", type="boolean", required=True),
    )
    # when the samples are made
    samples = sample_rows(served, tmp_path)
    # then the example comes first, then one row per text shape (and one alone)
    assert samples[0] == [{"text": "domain row", "x": 2.5, "ok": True}]
    assert [row["text"] for row in samples[1]] == list(SHAPE_TEXTS)
    assert [row["x"] for row in samples[1]] == [-1.0, 2.0, 5.0, 8.0, 11.0, 14.0]
    assert [row["ok"] for row in samples[1]] == [False, True] * 3
    assert samples[2] == samples[1][:1]


def test_the_generic_samples_hold_no_message_of_the_sms_data_set():
    messages = {
        line.split("\t", 1)[1]
        for line in SMS_DATA.read_text(encoding="utf-8").splitlines()
    }
    assert not [text for text in SHAPE_TEXTS if text and text in messages]


def test_the_demo_models_keep_their_verified_fast_paths(served_sms, served_tabular):
    sms = model_cache().get(name="sms-spam")
    assert sms.fast_rows is not None and sms.fast_proba is not None
    tabular = model_cache().get(name="breast-cancer")
    assert tabular.fast_rows is not None and tabular.fast_proba is not None


def test_the_alias_record_is_read_back_and_rewritten_only_on_change(tmp_path):
    copies = LocalCopies(tmp_path)
    assert copies.aliases() == {}
    copies.remember_alias("m", "production", 3)
    copies.remember_alias("m", "staging", 4)
    record = tmp_path / "aliases.json"
    written = record.stat().st_mtime_ns
    copies.remember_alias("m", "production", 3)  # no change: no rewrite
    assert record.stat().st_mtime_ns == written
    assert LocalCopies(tmp_path).aliases() == {"m": {"production": 3, "staging": 4}}


def test_a_refusal_after_the_model_was_found_records_its_version(api, served_sms):
    # given a known model and a body that fails its signature
    response = api.post(
        "/api/v1/models/sms-spam/predict",
        {"inputs": [{"message": 5}]},
        format="json",
    )
    # then the refusal is recorded with the version that refused it
    assert response.status_code == 400
    error = RequestError.objects.get()
    assert (error.model_version, error.code) == (served_sms.version, "invalid_input")


def test_a_bad_request_id_is_refused_before_the_model_is_looked_up(api, served_sms):
    response = api.post(
        "/api/v1/models/no-such-model/predict",
        {"inputs": [{"message": "hi"}]},
        format="json",
        HTTP_X_REQUEST_ID="x" * 200,
    )
    assert response.status_code == 400
    error = RequestError.objects.get()
    assert (error.model_version, error.status_code) == (None, 400)
