"""Batch scoring: upload or server file, chunks with progress, bad rows
reported, every scored row logged once, resumable after an interruption."""

from __future__ import annotations

import contextlib
import csv
import io

import pytest
from celery.exceptions import Retry
from django.conf import settings

from inference.models import BatchJob, PredictionLog
from inference.services.batch import batch_job_create, batch_job_run


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def _upload(name: str, data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="text/csv")


def test_uploaded_csv_is_scored_with_bad_rows_reported(
    api, served_sms, client_user, django_capture_on_commit_callbacks, settings
):
    settings.INFERENCE = {**settings.INFERENCE, "BATCH_CHUNK_SIZE": 4}
    rows = [["message"]] + [[f"hello number {i}"] for i in range(10)]
    rows[3] = ["x" * 6000]  # over-long: reported, not fatal
    data = _csv(rows)
    # when the client uploads it (the task runs eagerly after commit)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/batch-jobs",
            {"model": "sms-spam", "file": _upload("in.csv", data)},
            format="multipart",
        )
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    # then the job succeeded, with progress and results
    job = api.get(f"/api/v1/batch-jobs/{job_id}").json()
    assert job["status"] == "succeeded", job
    assert (job["rows_total"], job["rows_done"], job["rows_failed"]) == (10, 10, 1)
    assert job["progress"] == 1.0
    results = api.get(f"/api/v1/batch-jobs/{job_id}/results")
    assert results.status_code == 200
    table = list(
        csv.DictReader(io.StringIO(b"".join(results.streaming_content).decode()))
    )
    assert [int(r["row"]) for r in table] == list(range(10))
    assert "longer than" in table[2]["error"] and table[2]["prediction"] == ""
    assert all(
        r["prediction"] in ("ham", "spam") for i, r in enumerate(table) if i != 2
    )
    logged = PredictionLog.objects.filter(batch_id=job_id)
    assert logged.count() == 9
    assert set(logged.values_list("source", flat=True)) == {"batch"}
    assert {str(p) for p in logged.values_list("prediction_id", flat=True)} == {
        r["prediction_id"] for r in table if r["prediction_id"]
    }


def test_an_interrupted_job_resumes_without_logging_twice(
    served_sms, client_user, settings
):
    settings.INFERENCE = {**settings.INFERENCE, "BATCH_CHUNK_SIZE": 3}
    data = _csv([["message"]] + [[f"m {i}"] for i in range(10)])
    job = batch_job_create(
        model_name="sms-spam",
        client=client_user,
        upload=_upload("a.csv", data),
        enqueue=False,
    )
    # a worker scores one chunk and dies
    assert batch_job_run(job_id=job.pk, max_chunks=1).rows_done == 3
    # a redelivered task scores the rest
    done = batch_job_run(job_id=job.pk)
    # and a duplicate delivery changes nothing
    again = batch_job_run(job_id=job.pk)
    assert done.status == again.status == "succeeded"
    assert done.attempts == 2
    assert PredictionLog.objects.filter(batch_id=job.pk).count() == 10
    assert (
        PredictionLog.objects.filter(batch_id=job.pk)
        .values("row_index")
        .distinct()
        .count()
        == 10
    )


def test_server_file_must_be_under_an_allowed_folder(api, served_sms, tmp_path):
    allowed = settings.INFERENCE["BATCH_ALLOWED_DIRS"][0]
    allowed.mkdir(parents=True, exist_ok=True)
    good = allowed / "daily.csv"
    good.write_bytes(_csv([["message"], ["hi"]]))
    outside = tmp_path / "secret.csv"
    outside.write_bytes(b"message\nhi\n")
    for path in (str(outside), str(allowed / ".." / "x.csv"), "/etc/passwd"):
        response = api.post(
            "/api/v1/batch-jobs", {"model": "sms-spam", "path": path}, format="json"
        )
        assert response.status_code == 400, path
    ok = api.post(
        "/api/v1/batch-jobs", {"model": "sms-spam", "path": str(good)}, format="json"
    )
    assert ok.status_code == 202


def test_scheduled_batch_task_scores_a_server_file(served_sms):
    from inference.tasks import batch_score_scheduled

    allowed = settings.INFERENCE["BATCH_ALLOWED_DIRS"][0]
    allowed.mkdir(parents=True, exist_ok=True)
    path = allowed / "nightly.csv"
    path.write_bytes(_csv([["message"], ["a"], ["b"]]))
    status = batch_score_scheduled.apply(
        kwargs={"path": str(path), "model": "sms-spam"}
    ).get()
    assert status == "succeeded"
    job = BatchJob.objects.get()
    assert job.client is None and job.schedule_name.startswith("scheduled:")
    assert PredictionLog.objects.filter(batch_id=job.pk).count() == 2


def test_a_client_cannot_see_another_clients_batch_job(
    api, other_api, served_sms, client_user
):
    job = batch_job_create(
        model_name="sms-spam",
        client=client_user,
        upload=_upload("a.csv", b"message\nhi\n"),
        enqueue=False,
    )
    assert api.get(f"/api/v1/batch-jobs/{job.pk}").status_code == 200
    assert other_api.get(f"/api/v1/batch-jobs/{job.pk}").status_code == 404
    assert other_api.get(f"/api/v1/batch-jobs/{job.pk}/results").status_code == 404
    assert other_api.get("/api/v1/batch-jobs").json()["results"] == []


@pytest.mark.parametrize("missing", ["header", "model"])
def test_bad_batch_requests(api, served_sms, missing):
    if missing == "header":
        job = api.post(
            "/api/v1/batch-jobs",
            {"model": "sms-spam", "file": _upload("a.csv", b"text\nhi\n")},
            format="multipart",
        )
        assert job.status_code == 202
        done = batch_job_run(job_id=job.json()["id"])
        assert done.status == "failed" and "message" in done.error
    else:
        response = api.post(
            "/api/v1/batch-jobs",
            {"model": "nope", "file": _upload("a.csv", b"message\nhi\n")},
            format="multipart",
        )
        assert response.status_code == 404


# ------------------------------------------------------------ failed jobs
def _oversized_field_csv() -> bytes:
    # one quoted cell over the csv module's field limit (131,072 characters)
    return b'message\nhello\n"' + b"x" * 200_000 + b'"\n'


def test_a_csv_with_an_oversized_field_ends_failed_with_the_reason(
    api, served_sms, client_user, django_capture_on_commit_callbacks
):
    # given a server-side file (an upload is read, and refused, at once)
    allowed = settings.INFERENCE["BATCH_ALLOWED_DIRS"][0]
    allowed.mkdir(parents=True, exist_ok=True)
    path = allowed / "oversized-field.csv"
    path.write_bytes(_oversized_field_csv())
    # when the client starts a job on it and the task runs
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/batch-jobs",
            {"model": "sms-spam", "path": str(path)},
            format="json",
        )
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    # then the job is failed with the reason, in the API and on its page
    job = api.get(f"/api/v1/batch-jobs/{job_id}").json()
    assert job["status"] == "failed", job
    assert "_csv.Error: field larger than field limit" in job["error"]
    assert job["finished_at"] is not None
    assert not PredictionLog.objects.filter(batch_id=job_id).exists()


def test_a_job_whose_attempts_all_raise_ends_failed(
    served_sms, client_user, monkeypatch
):
    from inference import tasks
    from inference.services import batch

    job = batch_job_create(
        model_name="sms-spam",
        client=client_user,
        upload=_upload("a.csv", b"message\nhi\n"),
        enqueue=False,
    )

    def crash(**_kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(batch, "batch_job_run", crash)
    # when a delivery raises with retries left, the job waits for its retry
    with contextlib.suppress(Retry):
        tasks.batch_score.apply(args=[str(job.pk)])
    job.refresh_from_db()
    assert job.status == "pending" and "disk on fire" in job.error
    # and when the last allowed retry raises too
    last = tasks.batch_score.max_retries
    status = tasks.batch_score.apply(args=[str(job.pk)], retries=last).get()
    # then the job ends failed with the last error
    job.refresh_from_db()
    assert status == job.status == "failed"
    assert "gave up" in job.error and "RuntimeError: disk on fire" in job.error
    assert job.finished_at is not None


def test_a_failed_attempt_with_retries_left_says_why(served_sms, client_user):
    from inference.services.batch import batch_job_attempt_failed

    job = batch_job_create(
        model_name="sms-spam",
        client=client_user,
        upload=_upload("a.csv", b"message\nhi\n"),
        enqueue=False,
    )
    waiting = batch_job_attempt_failed(
        job_id=job.pk, error="OperationalError: gone", final=False
    )
    assert waiting.status == "pending" and "OperationalError" in waiting.error


def test_a_job_whose_worker_is_lost_beyond_the_cap_ends_failed(
    served_sms, client_user, settings
):
    settings.INFERENCE = {**settings.INFERENCE, "BATCH_MAX_ATTEMPTS": 3}
    job = batch_job_create(
        model_name="sms-spam",
        client=client_user,
        upload=_upload("a.csv", b"message\nhi\n"),
        enqueue=False,
    )
    # given three deliveries that started and died (worker killed each time)
    BatchJob.objects.filter(pk=job.pk).update(status="running", attempts=3)
    # when the message is delivered once more
    done = batch_job_run(job_id=job.pk)
    # then the job gives up instead of running forever
    assert done.status == "failed"
    assert "gave up after 3 attempts" in done.error and "worker was lost" in done.error
    assert done.finished_at is not None


def test_a_pending_job_reads_queued(client, served_sms, client_user):
    job = batch_job_create(
        model_name="sms-spam",
        client=client_user,
        upload=_upload("a.csv", b"message\nhi\n"),
        enqueue=False,
    )
    client.force_login(client_user)
    page = client.get(f"/batch/{job.pk}").content.decode()
    listing = client.get("/batch/").content.decode()
    assert "Queued" in page and "0 / 0" not in page
    assert "queued" in listing and "0 / 0" not in listing
