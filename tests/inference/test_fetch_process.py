"""Downloads in the helper process (INFERENCE_FETCH_IN_PROCESS): the copy is
made by another process, errors come back as the worker's own, MLflow's
location follows the worker's settings, a dead helper is replaced, and no copy
is marked complete without its MLmodel file."""

import os
from concurrent.futures.process import BrokenProcessPool

import pytest

from core import registry
from inference.serving import fetch
from inference.serving.errors import ModelNotFound, ModelUnavailable
from inference.serving.local import META_FILE, LocalCopies


@pytest.fixture(scope="module", autouse=True)
def _one_helper_for_the_module():
    yield  # the helper's start (a Django and MLflow import) is paid once
    fetch.fetch_helper_stop()


@pytest.fixture
def in_process(settings):
    settings.INFERENCE = {**settings.INFERENCE, "FETCH_IN_PROCESS": True}


def test_the_copy_is_made_by_the_helper_process(
    in_process, sms_model, tmp_path, monkeypatch
):
    # a download in this process would fail: only the helper can make the copy
    def refused(*args, **kwargs):
        raise AssertionError("downloaded in the serving process")

    monkeypatch.setattr(registry, "version_download", refused)

    folder = LocalCopies(tmp_path).ensure("sms-spam", sms_model.version)

    assert (folder / META_FILE).is_file()
    assert any(folder.rglob("MLmodel"))
    helper_pid = fetch._helper().submit(os.getpid).result(timeout=60)
    assert helper_pid != os.getpid()


def test_errors_come_back_as_the_servings_own(in_process, sms_model, tmp_path):
    with pytest.raises(ModelNotFound, match="has no version 999"):
        LocalCopies(tmp_path).ensure("sms-spam", 999)


def test_the_helper_reads_mlflows_location_from_the_workers_settings(
    in_process, sms_model, tmp_path, settings
):
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9/"
    settings.MLFLOW_REGISTRY_URI = "http://127.0.0.1:9/"
    settings.MLFLOW_REQUEST_MAX_RETRIES = 0
    settings.MLFLOW_REQUEST_TIMEOUT_SECONDS = 2
    with pytest.raises(ModelUnavailable):
        LocalCopies(tmp_path).ensure("sms-spam", sms_model.version)


def test_a_dead_helper_is_replaced(in_process, sms_model, tmp_path):
    with pytest.raises(BrokenProcessPool):
        fetch._helper().submit(os._exit, 1).result(timeout=60)  # the helper dies

    with pytest.raises(ModelUnavailable, match="helper process died"):
        LocalCopies(tmp_path / "first").ensure("sms-spam", sms_model.version)

    folder = LocalCopies(tmp_path / "second").ensure("sms-spam", sms_model.version)
    assert (folder / META_FILE).is_file()


def test_a_copy_without_mlmodel_is_never_marked_complete(
    sms_model, tmp_path, monkeypatch
):
    def empty(name, version, dst):
        dst.mkdir(parents=True)
        (dst / "model.pkl").write_bytes(b"half")
        return dst

    monkeypatch.setattr(registry, "version_download", empty)

    with pytest.raises(ModelUnavailable, match="incomplete"):
        LocalCopies(tmp_path).ensure("sms-spam", sms_model.version)
    assert not list(tmp_path.rglob(META_FILE))


def test_a_daemonic_process_downloads_itself(in_process, monkeypatch):
    # a Celery prefork child is daemonic and may not start the helper
    import multiprocessing

    monkeypatch.setattr(multiprocessing.current_process(), "daemon", True)
    assert not fetch.fetch_in_process_enabled()
