"""Batch files live in the shared storage, addressed by name: a job runs end
to end (upload, chunks, results download) on a storage that has no local
path at all, and on the default filesystem storage under the media folder.
The storage is chosen by settings (filesystem or an S3 bucket)."""

from __future__ import annotations

import csv
import importlib
import io
from datetime import timedelta
from pathlib import Path

import environ
import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import InMemoryStorage, storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from config.settings.base import default_storage_config
from inference.models import BatchJob, PredictionLog
from inference.services import batch_files
from inference.services.batch import batch_job_create, batch_job_run

MEMORY = "django.core.files.storage.InMemoryStorage"


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def _local_files() -> set[Path]:
    root = Path(settings.MEDIA_ROOT)
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def _table(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


@pytest.fixture
def memory_storage(settings):
    """The shared storage is an in-memory one: a file written or read by a
    local path instead of through the storage is not there."""
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": MEMORY}}
    storage = storages["default"]
    assert isinstance(storage, InMemoryStorage)
    return storage


def test_a_batch_job_runs_end_to_end_without_a_local_path(
    api,
    client,
    client_user,
    served_sms,
    memory_storage,
    django_capture_on_commit_callbacks,
    settings,
):
    settings.INFERENCE = {**settings.INFERENCE, "BATCH_CHUNK_SIZE": 3}
    local_before = _local_files()
    rows = [["message"]] + [[f"hello number {i}"] for i in range(10)]
    rows[5] = ["x" * 6000]  # a bad row, reported in the results
    # when a client uploads a CSV (the task runs eagerly after the commit)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/batch-jobs",
            {
                "model": "sms-spam",
                "file": SimpleUploadedFile("in.csv", _csv(rows), "text/csv"),
            },
            format="multipart",
        )
    assert response.status_code == 202, response.content
    job = BatchJob.objects.get(pk=response.json()["id"])
    # then the job succeeded with its files in the storage, by name
    assert job.status == "succeeded", job.error
    assert job.input_path == f"batch/{job.pk}/input.csv"
    assert job.output_path == f"batch/{job.pk}/results.csv"
    assert memory_storage.exists(job.input_path)
    assert memory_storage.exists(job.output_path)
    # the parts are gone once the results are written
    assert memory_storage.listdir(f"batch/{job.pk}")[1] == ["input.csv", "results.csv"]
    # and the results download from the API and from the web page agree
    table = _table(api.get(f"/api/v1/batch-jobs/{job.pk}/results"))
    client.force_login(client_user)
    assert _table(client.get(f"/batch/{job.pk}/results")) == table
    assert [int(r["row"]) for r in table] == list(range(10))
    assert "longer than" in table[4]["error"]
    logged = PredictionLog.objects.filter(batch_id=job.pk)
    assert {str(p) for p in logged.values_list("prediction_id", flat=True)} == {
        r["prediction_id"] for r in table if r["prediction_id"]
    }
    # nothing went to the local disk
    assert _local_files() == local_before


def test_a_job_resumed_elsewhere_reads_its_input_and_parts_from_the_storage(
    served_sms, client_user, memory_storage, settings
):
    settings.INFERENCE = {**settings.INFERENCE, "BATCH_CHUNK_SIZE": 4}
    data = _csv([["message"]] + [[f"m {i}"] for i in range(10)])
    job = batch_job_create(
        model_name="sms-spam",
        client=client_user,
        upload=SimpleUploadedFile("a.csv", data),
        enqueue=False,
    )
    # a worker scores one chunk and dies; its part is in the storage
    assert batch_job_run(job_id=job.pk, max_chunks=1).rows_done == 4
    assert memory_storage.listdir(f"batch/{job.pk}/parts")[1] == ["000000000000.csv"]
    # a chunk written again (its transaction rolled back) replaces its part
    batch_files.part_write(job_id=job.pk, start=4, text="stale\n")
    # another worker finishes the job from the storage alone
    done = batch_job_run(job_id=job.pk)
    assert done.status == "succeeded"
    with memory_storage.open(done.output_path, "rb") as handle:
        table = list(csv.DictReader(io.TextIOWrapper(handle, encoding="utf-8")))
    assert [int(r["row"]) for r in table] == list(range(10))
    assert all(r["prediction"] in ("ham", "spam") for r in table)
    assert PredictionLog.objects.filter(batch_id=job.pk).count() == 10


def test_a_large_results_file_is_streamed_in_chunks(
    api, client_user, served_sms, memory_storage
):
    # given a finished job whose results are larger than one response chunk
    body = b"row,prediction\n" + b"".join(b"%d,ham\n" % i for i in range(20_000))
    name = memory_storage.save("batch/big/results.csv", io.BytesIO(body))
    job = BatchJob.objects.create(
        client=client_user,
        model_name="sms-spam",
        input_path="batch/big/input.csv",
        output_path=name,
        status="succeeded",
    )
    # when the client downloads them
    response = api.get(f"/api/v1/batch-jobs/{job.pk}/results")
    # then they come in several chunks, complete
    assert response.status_code == 200 and response.streaming
    chunks = list(response.streaming_content)
    assert len(chunks) > 1
    assert b"".join(chunks) == body
    assert response["Content-Length"] == str(len(body))


def test_a_missing_results_file_answers_404(
    api, client, client_user, served_sms, memory_storage
):
    job = BatchJob.objects.create(
        client=client_user,
        model_name="sms-spam",
        input_path="batch/gone/input.csv",
        output_path="batch/gone/results.csv",
        status="succeeded",
    )
    answer = api.get(f"/api/v1/batch-jobs/{job.pk}/results")
    assert answer.status_code == 404
    assert "missing" in answer.json()["error"]["message"]
    client.force_login(client_user)
    assert client.get(f"/batch/{job.pk}/results").status_code == 404


def test_the_default_storage_is_the_media_folder(
    api, served_sms, django_capture_on_commit_callbacks
):
    # given the default settings (the filesystem storage)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/batch-jobs",
            {
                "model": "sms-spam",
                "file": SimpleUploadedFile("in.csv", b"message\nhi\nWIN NOW\n"),
            },
            format="multipart",
        )
    job = BatchJob.objects.get(pk=response.json()["id"])
    assert job.status == "succeeded", job.error
    # then the names are relative and the files lie under the media folder
    folder = Path(settings.MEDIA_ROOT) / "batch" / str(job.pk)
    assert sorted(p.name for p in folder.iterdir()) == ["input.csv", "results.csv"]
    assert not Path(job.output_path).is_absolute()
    assert len(_table(api.get(f"/api/v1/batch-jobs/{job.pk}/results"))) == 2


# ------------------------------------------------------------------ settings
def _env(monkeypatch, **values) -> environ.Env:
    for name in [
        "MODELGATE_STORAGE",
        "MODELGATE_STORAGE_BUCKET",
        "MODELGATE_STORAGE_PREFIX",
        "MODELGATE_STORAGE_ENDPOINT_URL",
        "MODELGATE_STORAGE_REGION",
        "MODELGATE_STORAGE_ADDRESSING_STYLE",
    ]:
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return environ.Env()


def test_the_embedded_default_is_the_filesystem(monkeypatch):
    config = default_storage_config(_env(monkeypatch))
    assert config == {"BACKEND": "django.core.files.storage.FileSystemStorage"}


def test_an_s3_compatible_bucket_is_configured_from_the_environment(monkeypatch):
    from storages.backends.s3 import S3Storage

    config = default_storage_config(
        _env(
            monkeypatch,
            MODELGATE_STORAGE="s3",
            MODELGATE_STORAGE_BUCKET="modelgate-files",
            MODELGATE_STORAGE_PREFIX="/prod/",
            MODELGATE_STORAGE_ENDPOINT_URL="http://minio:9000",
            MODELGATE_STORAGE_REGION="eu-west-1",
            MODELGATE_STORAGE_ADDRESSING_STYLE="path",
        )
    )
    assert config["BACKEND"] == "storages.backends.s3.S3Storage"
    # the options are the backend's own: it accepts them as they are
    storage = S3Storage(**config["OPTIONS"])
    assert storage.bucket_name == "modelgate-files"
    assert storage.location == "prod"
    assert storage.endpoint_url == "http://minio:9000"
    assert storage.region_name == "eu-west-1"
    assert storage.addressing_style == "path"
    assert storage.file_overwrite is True
    # reads beyond this spill to a temporary file instead of memory
    assert storage.max_memory_size == settings.FILE_UPLOAD_MAX_MEMORY_SIZE
    assert "access_key" not in config["OPTIONS"]  # django-storages' own lookup


def test_a_bucketless_or_unknown_storage_is_refused(monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="MODELGATE_STORAGE_BUCKET"):
        default_storage_config(_env(monkeypatch, MODELGATE_STORAGE="s3"))
    with pytest.raises(ImproperlyConfigured, match="filesystem or s3"):
        default_storage_config(_env(monkeypatch, MODELGATE_STORAGE="ftp"))


def test_paths_under_the_media_folder_become_storage_names(settings, tmp_path):
    migration = importlib.import_module(
        "inference.migrations.0009_batch_files_in_storage"
    )
    settings.MEDIA_ROOT = tmp_path / "media"
    media = str(tmp_path / "media")
    assert migration._to_name(f"{media}/batch/j/results.csv") == "batch/j/results.csv"
    assert migration._to_name("/elsewhere/results.csv") == "/elsewhere/results.csv"
    assert migration._to_name("") == ""
    assert migration._to_path("batch/j/input.csv") == f"{media}/batch/j/input.csv"


# ------------------------------------------------------- an S3-compatible store
@pytest.fixture
def s3_storage(settings, monkeypatch):
    """The shared storage is a bucket of a local S3-compatible server (moto's,
    over HTTP on 127.0.0.1), configured the way an operator would."""
    import boto3
    import requests
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    monkeypatch.setenv("AWS_S3_ACCESS_KEY_ID", "modelgate-test")
    monkeypatch.setenv("AWS_S3_SECRET_ACCESS_KEY", "modelgate-test-secret")
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="modelgate-test",
        aws_secret_access_key="modelgate-test-secret",
    )
    client.create_bucket(Bucket="modelgate-files")
    env = _env(
        monkeypatch,
        MODELGATE_STORAGE="s3",
        MODELGATE_STORAGE_BUCKET="modelgate-files",
        MODELGATE_STORAGE_PREFIX="shared",
        MODELGATE_STORAGE_ENDPOINT_URL=endpoint,
        MODELGATE_STORAGE_REGION="us-east-1",
        MODELGATE_STORAGE_ADDRESSING_STYLE="path",
    )
    settings.STORAGES = {**settings.STORAGES, "default": default_storage_config(env)}

    def keys() -> list[str]:
        listed = client.list_objects_v2(Bucket="modelgate-files")
        return sorted(o["Key"] for o in listed.get("Contents", []))

    yield keys
    # the server's buckets live in this process, beyond the server's life
    requests.post(f"{endpoint}/moto-api/reset", timeout=10)
    server.stop()


def test_a_batch_job_runs_end_to_end_on_an_s3_bucket(
    api,
    client,
    client_user,
    served_sms,
    s3_storage,
    django_capture_on_commit_callbacks,
    settings,
):
    settings.INFERENCE = {**settings.INFERENCE, "BATCH_CHUNK_SIZE": 4}
    local_before = _local_files()
    rows = [["message"]] + [[f"hello number {i}"] for i in range(10)]
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/batch-jobs",
            {
                "model": "sms-spam",
                "file": SimpleUploadedFile("in.csv", _csv(rows), "text/csv"),
            },
            format="multipart",
        )
    assert response.status_code == 202, response.content
    job = BatchJob.objects.get(pk=response.json()["id"])
    assert job.status == "succeeded", job.error
    # the bucket holds the input and the results, under the prefix; no parts
    assert s3_storage() == [
        f"shared/batch/{job.pk}/input.csv",
        f"shared/batch/{job.pk}/results.csv",
    ]
    table = _table(api.get(f"/api/v1/batch-jobs/{job.pk}/results"))
    client.force_login(client_user)
    assert _table(client.get(f"/batch/{job.pk}/results")) == table
    assert [int(r["row"]) for r in table] == list(range(10))
    assert PredictionLog.objects.filter(batch_id=job.pk).count() == 10
    assert _local_files() == local_before


def test_a_report_page_is_served_from_an_s3_bucket(
    client, make_user, s3_storage, django_capture_on_commit_callbacks
):
    from django.core.files.base import ContentFile

    from monitoring.models import Report
    from tests.monitoring.factories import make_monitor

    name = storages["default"].save(
        "monitoring/reports/report-s3.html", ContentFile(b"<html>evidently</html>")
    )
    now = timezone.now()
    report = Report.objects.create(
        monitor=make_monitor("breast-cancer"),
        model_name="breast-cancer",
        status="succeeded",
        window_start=now - timedelta(hours=1),
        window_end=now,
        html_file=name,
    )
    assert s3_storage() == ["shared/monitoring/reports/report-s3.html"]
    client.force_login(make_user("victor", roles=["viewers"]))
    response = client.get(reverse("monitoring:report-html", kwargs={"pk": report.pk}))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"<html>evidently</html>"


@pytest.mark.parametrize("backend", [MEMORY, "filesystem"])
def test_an_upload_spooled_to_a_temporary_file_is_counted_then_stored(
    backend, settings
):
    from django.core.files.uploadedfile import TemporaryUploadedFile

    if backend == MEMORY:
        settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": MEMORY}}
    data = _csv([["message"]] + [[f"m {i}"] for i in range(50)])
    # Django keeps an upload above FILE_UPLOAD_MAX_MEMORY_SIZE in a temporary file
    upload = TemporaryUploadedFile("big.csv", "text/csv", len(data), None)
    upload.write(data)
    assert batch_files.upload_rows_over(upload, 49) == 50
    assert batch_files.upload_rows_over(upload, 50) is None
    name = batch_files.upload_store(job_id="j-temp", upload=upload)
    upload.close()  # as the request does (the storage may have moved the file)
    with storages["default"].open(name, "rb") as stored:
        assert stored.read() == data
