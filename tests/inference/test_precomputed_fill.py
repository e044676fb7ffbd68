"""The precomputed store of hybrid serving, filled by a batch job with a key
column: the batch scoring path writes entries under their keys, logs nothing,
reports bad keys, and is scheduled like any batch job."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from inference.models import BatchJob, PrecomputedPrediction, PredictionLog
from inference.services.precomputed import (
    inputs_hash,
    key_problem,
    precomputed_prune,
)
from inference.serving import model_cache
from inference.validation import Field
from tests.inference.conftest import token_client


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def _upload(name: str, data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="text/csv")


# ------------------------------------------------------------------ pure parts
def test_inputs_hash_is_canonical():
    fields = [Field("a", "double"), Field("b", "string")]
    assert inputs_hash({"a": 1, "b": "x"}, fields) == inputs_hash(
        {"b": "x", "a": 1.0}, fields
    )
    assert inputs_hash({"a": 1, "b": "x"}, fields) != inputs_hash(
        {"a": 1, "b": "y"}, fields
    )
    assert len(inputs_hash({"a": None, "b": "é"}, fields)) == 64


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("customer-42", None),
        ("", "blank"),
        ("   ", "blank"),
        (42, "string"),
        (None, "string"),
        ("k" * 257, "longer than 256"),
        ("a\x00b", "NUL"),
    ],
)
def test_key_problem(value, problem):
    found = key_problem(value)
    assert (found is None) if problem is None else (problem in found)


# ------------------------------------------------------------------- the fill
def test_a_data_scientist_fills_the_store_from_an_uploaded_csv(
    served_sms, make_user, django_capture_on_commit_callbacks, settings
):
    settings.INFERENCE = {**settings.INFERENCE, "BATCH_CHUNK_SIZE": 3}
    api = token_client(make_user("ds", roles=["requesters"]))
    rows = [["customer", "message"]]
    rows += [[f"c{i}", f"see you at {i} tonight"] for i in range(6)]
    rows += [["", "no key here"], ["c2", "WINNER!! claim your free prize now"]]
    # when the data scientist uploads it with a key column
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/batch-jobs",
            {
                "model": "sms-spam",
                "file": _upload("keys.csv", _csv(rows)),
                "key_column": "customer",
                "ttl_seconds": 3600,
            },
            format="multipart",
        )
    assert response.status_code == 202, response.content
    job = api.get(f"/api/v1/batch-jobs/{response.json()['id']}").json()
    assert job["status"] == "succeeded", job
    assert (job["rows_done"], job["rows_failed"]) == (8, 1)
    assert (job["key_column"], job["ttl_seconds"]) == ("customer", 3600)
    # then every keyed row is in the store, computed by the served version
    entries = {
        e.key: e for e in PrecomputedPrediction.objects.filter(model_name="sms-spam")
    }
    assert sorted(entries) == [f"c{i}" for i in range(6)]
    served = model_cache().get(name="sms-spam")
    for key, entry in entries.items():
        assert entry.model_version == served.version
        assert entry.expires_at - entry.computed_at == timedelta(seconds=3600)
        assert entry.inputs_hash == inputs_hash(entry.inputs, served.inputs)
        assert str(entry.batch_id) == job["id"], key
    # a key given twice keeps its last row
    assert entries["c2"].inputs == {"message": "WINNER!! claim your free prize now"}
    assert entries["c2"].prediction == "spam"
    assert entries["c0"].prediction == "ham"
    assert set(entries["c0"].probabilities) == {"ham", "spam"}
    # nothing was served, so nothing is logged
    assert not PredictionLog.objects.filter(batch_id=job["id"]).exists()
    # the results name each row's key, and the bad one's reason
    results = api.get(f"/api/v1/batch-jobs/{job['id']}/results")
    table = list(
        csv.DictReader(io.StringIO(b"".join(results.streaming_content).decode()))
    )
    assert "prediction_id" not in table[0]
    assert [r["key"] for r in table] == [*[f"c{i}" for i in range(6)], "", "c2"]
    assert "customer: a key may not be blank" in table[6]["error"]


def test_only_the_precompute_roles_fill_the_store(api, served_sms):
    # an API client predicts but may not write what others are answered
    response = api.post(
        "/api/v1/batch-jobs",
        {
            "model": "sms-spam",
            "file": _upload("k.csv", _csv([["id", "message"], ["a", "hi"]])),
            "key_column": "id",
        },
        format="multipart",
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "precompute_not_permitted"
    assert not BatchJob.objects.exists()


def test_a_ttl_without_a_key_column_is_refused(make_user, served_sms):
    api = token_client(make_user("ds", roles=["requesters"]))
    response = api.post(
        "/api/v1/batch-jobs",
        {
            "model": "sms-spam",
            "file": _upload("k.csv", _csv([["message"], ["hi"]])),
            "ttl_seconds": 60,
        },
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"ttl_seconds": ["needs key_column"]}


def test_a_scheduled_fill_reads_a_server_file_and_names_a_missing_key_column(
    served_sms,
):
    from inference.tasks import batch_score_scheduled

    allowed = settings.INFERENCE["BATCH_ALLOWED_DIRS"][0]
    allowed.mkdir(parents=True, exist_ok=True)
    path = allowed / "nightly-keys.csv"
    path.write_bytes(_csv([["id", "message"], ["a", "hi there"], ["b", "ok"]]))
    # when the admin's schedule runs with a key column
    status = batch_score_scheduled.apply(
        kwargs={"path": str(path), "model": "sms-spam", "key_column": "id"}
    ).get()
    # then the store holds both keys with the default freshness
    assert status == "succeeded"
    entries = PrecomputedPrediction.objects.order_by("key")
    assert [e.key for e in entries] == ["a", "b"]
    ttl = settings.INFERENCE["PRECOMPUTED_TTL_SECONDS"]
    assert all(e.expires_at - e.computed_at == timedelta(seconds=ttl) for e in entries)
    assert not PredictionLog.objects.exists()
    # and a file without the key column fails, naming it
    status = batch_score_scheduled.apply(
        kwargs={"path": str(path), "model": "sms-spam", "key_column": "customer"}
    ).get()
    assert status == "failed"
    failed = BatchJob.objects.get(key_column="customer")
    assert failed.error == "the CSV lacks column(s): customer"


def test_a_refill_replaces_the_entries_of_its_keys(served_sms, make_user):
    from inference.services.batch import batch_job_create, batch_job_run

    owner = make_user("ds", roles=["requesters"])
    for text in ("first text", "second text"):
        job = batch_job_create(
            model_name="sms-spam",
            client=owner,
            upload=_upload("k.csv", _csv([["id", "message"], ["a", text]])),
            key_column="id",
            enqueue=False,
        )
        assert batch_job_run(job_id=job.pk).status == "succeeded"
    entry = PrecomputedPrediction.objects.get()
    assert (entry.inputs, entry.batch_id) == ({"message": "second text"}, job.pk)


def test_prune_deletes_only_long_expired_entries(served_sms):
    now = timezone.now()

    def entry(key: str, expired_days_ago: float) -> PrecomputedPrediction:
        expires = now - timedelta(days=expired_days_ago)
        return PrecomputedPrediction.objects.create(
            model_name="sms-spam",
            model_version=1,
            key=key,
            inputs={"message": key},
            inputs_hash="0" * 64,
            prediction="ham",
            computed_at=expires - timedelta(days=1),
            expires_at=expires,
        )

    entry("fresh", -1)
    entry("just-expired", 1)
    entry("old", 8)
    assert precomputed_prune(now=now, keep_expired=timedelta(days=7)) == 1
    assert sorted(PrecomputedPrediction.objects.values_list("key", flat=True)) == [
        "fresh",
        "just-expired",
    ]
