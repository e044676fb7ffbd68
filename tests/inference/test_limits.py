"""Batch uploads are capped by size (413 before the body is read) and by rows
(400 naming the cap, nothing kept); both caps are settings."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage

from inference.models import BatchJob
from tests.core.test_limits import Unreadable


def _upload(name: str, data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="text/csv")


def _batch_files() -> set[str]:
    """The job folders in the shared storage."""
    try:
        return set(default_storage.listdir("batch")[0])
    except FileNotFoundError:
        return set()


@pytest.fixture
def small_caps(settings):
    settings.INFERENCE = {
        **settings.INFERENCE,
        "BATCH_MAX_UPLOAD_BYTES": 1000,
        "BATCH_MAX_UPLOAD_ROWS": 5,
    }


@pytest.mark.parametrize("path", ["/api/v1/batch-jobs", "/batch/"])
def test_an_upload_over_the_size_cap_gets_413_before_it_is_read(api, small_caps, path):
    response = api.generic(
        "POST",
        path,
        b"",
        content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(30 * 1024 * 1024),
        **{"wsgi.input": Unreadable()},
    )
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert str(1000 + 64 * 1024) in error["message"]
    assert not BatchJob.objects.exists()


def test_a_real_oversized_upload_is_refused(api, served_sms, small_caps):
    data = b"message\n" + b"hello there\n" * 7000  # 84 kB
    response = api.post(
        "/api/v1/batch-jobs",
        {"model": "sms-spam", "file": _upload("big.csv", data)},
        format="multipart",
    )
    assert response.status_code == 413
    assert not BatchJob.objects.exists()


def test_an_upload_over_the_row_cap_gets_400_and_leaves_nothing(
    api, served_sms, small_caps, settings
):
    before = _batch_files()
    data = b"message\n" + b"hi\n" * 6
    response = api.post(
        "/api/v1/batch-jobs",
        {"model": "sms-spam", "file": _upload("rows.csv", data)},
        format="multipart",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_batch_input"
    assert "at most 5 rows" in error["message"]
    assert not BatchJob.objects.exists()
    assert _batch_files() == before


def test_an_upload_at_the_row_cap_is_accepted(
    api, served_sms, small_caps, django_capture_on_commit_callbacks
):
    data = b"message\n" + b"hi\n" * 5
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/batch-jobs",
            {"model": "sms-spam", "file": _upload("rows.csv", data)},
            format="multipart",
        )
    assert response.status_code == 202, response.content
    assert (
        api.get(f"/api/v1/batch-jobs/{response.json()['id']}").json()["rows_total"] == 5
    )
