"""The model cache: alias swaps, the local copy when MLflow is unreachable,
the verified fast path."""

import numpy as np
import pytest

from core import registry
from core.registry import mlflow_store
from inference.serving import ModelUnavailable, model_cache, reset_model_cache

ROWS = [{"message": "WINNER!! claim your prize now"}, {"message": "see you at 7"}]


def test_fast_path_is_used_and_agrees_with_the_pipeline(served_sms):
    served = model_cache().get(name="sms-spam")
    assert served.raw and served.fast_proba is not None
    frame = served.frame(ROWS)
    assert np.allclose(served.fast_proba(frame), served.predictor.predict_proba(frame))


def test_alias_move_is_picked_up_by_refresh(served_sms, trained_models):
    v1 = registry.version_get("sms-spam", served_sms.version)
    v2 = int(
        mlflow_store.client()
        .create_model_version("sms-spam", v1.source, v1.run_id, tags=v1.tags)
        .version
    )
    held = model_cache().get(name="sms-spam")
    registry.alias_set("sms-spam", "production", v2)
    try:
        swaps = model_cache().refresh_aliases()
        assert swaps == [("sms-spam", "production", v1.version, v2)]
        assert model_cache().get(name="sms-spam").version == v2
        assert held.version == v1.version  # a request in flight keeps its model
        assert held.predict(ROWS).labels == ["spam", "ham"]
    finally:
        registry.alias_set("sms-spam", "production", v1.version)


def test_serves_from_local_copy_when_mlflow_is_unreachable(served_sms, settings):
    model_cache().get(name="sms-spam")  # seen once: copied locally
    reset_model_cache()  # as after a restart
    dead = "http://127.0.0.1:8119"
    settings.MLFLOW_TRACKING_URI = settings.MLFLOW_REGISTRY_URI = dead
    try:
        served = model_cache().get(name="sms-spam")
        assert served.version == served_sms.version
        assert served.predict(ROWS).labels == ["spam", "ham"]
        with pytest.raises(ModelUnavailable):
            model_cache().get(name="sms-spam", alias="never-served")
    finally:
        reset_model_cache()


def test_unknown_names_are_remembered_briefly(served_sms, monkeypatch):
    from inference.serving import lookup

    calls = []
    real = registry.alias_resolve

    def counting(name, alias):
        calls.append((name, alias))
        return real(name, alias)

    monkeypatch.setattr(registry, "alias_resolve", counting)
    for _ in range(5):
        with pytest.raises(lookup.ModelNotFound):
            model_cache().get(name="no-such-model")
    assert len(calls) == 1  # one MLflow call, not one per request
    monkeypatch.setattr(lookup, "MISSING_TTL_SECONDS", 0.0)
    model_cache()._missing.clear()
    with pytest.raises(lookup.ModelNotFound):
        model_cache().get(name="no-such-model")
    assert len(calls) == 2


# ---------------------------------------------- one watcher per cache folder
def test_lease_is_held_by_one_process_and_freed_when_it_dies(tmp_path):
    import subprocess
    import sys

    from inference.serving.locks import Lease

    path = tmp_path / "lease"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; sys.path.insert(0, '.');"
            "from inference.serving.locks import Lease;"
            f"assert Lease({str(path)!r}).try_acquire(); print('held', flush=True);"
            "time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        mine = Lease(path)
        assert not mine.try_acquire()  # another process holds it
        holder.kill()
        holder.wait(10)
        assert mine.try_acquire()  # the kernel released it with the process
        assert Lease(path).try_acquire() is False  # one holder at a time
        mine.release()
        assert Lease(path).try_acquire()
    finally:
        holder.kill()


def test_followers_swap_from_the_file_the_poller_writes(served_sms, tmp_path):
    """Two caches on one folder (two workers): the poller asks MLflow, the
    follower only reads aliases.json and loads the poller's copy."""
    from inference.serving import ModelCache

    v1 = registry.version_get("sms-spam", served_sms.version)
    v2 = int(
        mlflow_store.client()
        .create_model_version("sms-spam", v1.source, v1.run_id, tags=v1.tags)
        .version
    )
    poller = ModelCache(tmp_path, poll_seconds=0)
    follower = ModelCache(tmp_path, poll_seconds=0)
    assert poller.get(name="sms-spam").version == v1.version
    assert follower.get(name="sms-spam").version == v1.version
    registry.alias_set("sms-spam", "production", v2)
    try:
        assert follower.follow_aliases() == []  # nothing recorded yet
        assert poller.refresh_aliases(machine=True) == [
            ("sms-spam", "production", v1.version, v2)
        ]
        calls = []
        real = registry.alias_resolve
        try:
            registry.alias_resolve = lambda *a: calls.append(a) or real(*a)
            assert follower.follow_aliases() == [
                ("sms-spam", "production", v1.version, v2)
            ]
        finally:
            registry.alias_resolve = real
        assert calls == []  # the follower never asked MLflow
        assert follower.get(name="sms-spam").version == v2
    finally:
        registry.alias_set("sms-spam", "production", v1.version)


def test_the_poller_downloads_what_only_other_processes_serve(served_sms, tmp_path):
    from inference.serving import ModelCache
    from inference.serving.local import safe_folder

    v1 = registry.version_get("sms-spam", served_sms.version)
    v2 = int(
        mlflow_store.client()
        .create_model_version("sms-spam", v1.source, v1.run_id, tags=v1.tags)
        .version
    )
    ModelCache(tmp_path, poll_seconds=0).get(name="sms-spam")  # another worker
    poller = ModelCache(tmp_path, poll_seconds=0)  # serves nothing itself
    registry.alias_set("sms-spam", "production", v2)
    try:
        assert poller.refresh_aliases() == []  # without machine: only its own
        assert not (tmp_path / safe_folder("sms-spam") / str(v2)).exists()
        assert poller.refresh_aliases(machine=True) == []  # nothing swapped here
        assert (tmp_path / safe_folder("sms-spam") / str(v2) / "meta.json").is_file()
        assert poller._alias_file()["sms-spam"]["production"] == v2
    finally:
        registry.alias_set("sms-spam", "production", v1.version)


def test_a_version_is_downloaded_once_however_many_ask_at_once(
    served_sms, tmp_path, monkeypatch
):
    import threading

    from inference.serving import ModelCache

    downloads = []
    real = registry.version_download

    def counting(name, version, dst):
        downloads.append((name, version))
        return real(name, version, dst)

    monkeypatch.setattr(registry, "version_download", counting)
    caches = [ModelCache(tmp_path, poll_seconds=0) for _ in range(4)]
    barrier = threading.Barrier(len(caches))
    versions = []

    def load(cache):
        barrier.wait()
        versions.append(cache.get(name="sms-spam", version=served_sms.version).version)

    threads = [threading.Thread(target=load, args=(c,)) for c in caches]
    [t.start() for t in threads]
    [t.join(120) for t in threads]
    assert versions == [served_sms.version] * 4
    assert downloads == [("sms-spam", served_sms.version)]


def test_a_version_that_fails_to_load_is_retried_later_not_every_tick(
    served_sms, tmp_path, monkeypatch
):
    from inference.serving import ModelCache
    from inference.serving import lookup as cache_module

    follower = ModelCache(tmp_path, poll_seconds=0)
    current = follower.get(name="sms-spam").version
    attempts = []

    def broken(name, version):
        attempts.append(version)
        raise RuntimeError("unreadable model")

    monkeypatch.setattr(follower, "_load_version", broken)
    follower._remember_alias("sms-spam", "production", 999)
    assert follower.follow_aliases() == []
    assert follower.follow_aliases() == []
    assert attempts == [999]  # the second tick did not try again
    assert follower.get(name="sms-spam").version == current
    monkeypatch.setattr(cache_module, "LOAD_RETRY_SECONDS", 0.0)
    follower._failed.clear()
    follower.follow_aliases()
    assert attempts == [999, 999]


def test_short_gil_turns_last_while_any_user_is_inside_and_are_restored():
    import sys

    from inference.serving.locks import DOWNLOAD_SWITCH_INTERVAL, _ShortGilTurns

    turns = _ShortGilTurns()
    before = sys.getswitchinterval()
    try:
        with turns:
            assert sys.getswitchinterval() == pytest.approx(DOWNLOAD_SWITCH_INTERVAL)
            turns.__enter__()  # a second download, in another thread
        assert sys.getswitchinterval() == pytest.approx(DOWNLOAD_SWITCH_INTERVAL)
        turns.__exit__(None, None, None)
        assert sys.getswitchinterval() == pytest.approx(before)
        with pytest.raises(RuntimeError), turns:
            raise RuntimeError("a failed download")
        assert sys.getswitchinterval() == pytest.approx(before)
    finally:
        sys.setswitchinterval(before)


def test_a_download_runs_with_short_gil_turns(served_sms, tmp_path, monkeypatch):
    import sys

    from inference.serving import ModelCache
    from inference.serving.locks import DOWNLOAD_SWITCH_INTERVAL

    seen = []
    real = registry.version_download

    def recording(name, version, dst):
        seen.append(sys.getswitchinterval())
        return real(name, version, dst)

    monkeypatch.setattr(registry, "version_download", recording)
    before = sys.getswitchinterval()
    ModelCache(tmp_path, poll_seconds=0).get(
        name="sms-spam", version=served_sms.version
    )
    assert seen == [pytest.approx(DOWNLOAD_SWITCH_INTERVAL)]
    assert sys.getswitchinterval() == pytest.approx(before)
