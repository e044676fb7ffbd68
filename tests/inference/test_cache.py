"""The model cache: alias swaps, the local copy when MLflow is unreachable,
the verified fast path."""

import time

import numpy as np
import pytest

from core import registry
from core.registry import mlflow_store
from inference.serving import ModelUnavailable, model_cache, reset_model_cache
from tests.inference.conftest import confirm

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
    confirm("sms-spam", v2)
    try:
        swaps = model_cache().refresh_aliases()
        assert swaps == [("sms-spam", "production", v1.version, v2)]
        assert model_cache().get(name="sms-spam").version == v2
        assert held.version == v1.version  # a request in flight keeps its model
        assert held.predict(ROWS).labels == ["spam", "ham"]
    finally:
        confirm("sms-spam", v1.version)


def test_an_alias_moved_directly_in_mlflow_is_never_served(served_sms):
    """The cache follows the aliases governance confirmed (the ledger's
    recorded moves), not MLflow's: a move behind governance's back is flagged
    by the reconciler and never served, in a running process or a new one."""
    from governance.models import AuditEvent
    from governance.services.reconcile import registry_model_reconcile

    v1 = registry.version_get("sms-spam", served_sms.version)
    v2 = int(
        mlflow_store.client()
        .create_model_version("sms-spam", v1.source, v1.run_id, tags=v1.tags)
        .version
    )
    assert model_cache().get(name="sms-spam").version == v1.version
    registry.alias_set("sms-spam", "production", v2)  # not through Modelgate
    try:
        assert model_cache().refresh_aliases(machine=True) == []
        assert model_cache().get(name="sms-spam").version == v1.version
        _changes, findings = registry_model_reconcile(name="sms-spam")
        assert [(f["alias"], f["actual"]) for f in findings] == [("production", v2)]
        assert AuditEvent.objects.filter(kind="alias_out_of_band").count() == 1
        # flagged, still not served: not here, nor by a process starting now
        assert model_cache().refresh_aliases(machine=True) == []
        reset_model_cache()
        assert model_cache().get(name="sms-spam").version == v1.version
        assert (("sms-spam", v2)) not in model_cache().loaded()
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
            model_cache().get(name="sms-spam", version=served_sms.version + 999)
    finally:
        reset_model_cache()


def test_unknown_names_are_remembered_briefly(served_sms, monkeypatch):
    from inference.serving import lookup

    calls = []
    real = lookup.alias_confirmed

    def counting(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(lookup, "alias_confirmed", counting)
    for _ in range(5):
        with pytest.raises(lookup.ModelNotFound):
            model_cache().get(name="no-such-model")
    assert len(calls) == 1  # one lookup, not one per request
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
    """Two caches on one folder (two workers): the poller reads the confirmed
    aliases, the follower only reads aliases.json and loads the poller's copy."""
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
    confirm("sms-spam", v2)
    try:
        assert follower.follow_aliases() == []  # nothing recorded yet
        assert poller.refresh_aliases(machine=True) == [
            ("sms-spam", "production", v1.version, v2)
        ]
        calls = []
        from inference.serving import lookup

        real = lookup.alias_confirmed
        try:
            lookup.alias_confirmed = lambda **kw: calls.append(kw) or real(**kw)
            assert follower.follow_aliases() == [
                ("sms-spam", "production", v1.version, v2)
            ]
        finally:
            lookup.alias_confirmed = real
        assert calls == []  # the follower never looked the alias up
        assert follower.get(name="sms-spam").version == v2
    finally:
        confirm("sms-spam", v1.version)


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
    confirm("sms-spam", v2)
    try:
        assert poller.refresh_aliases() == []  # without machine: only its own
        assert not (tmp_path / safe_folder("sms-spam") / str(v2)).exists()
        assert poller.refresh_aliases(machine=True) == []  # nothing swapped here
        assert (tmp_path / safe_folder("sms-spam") / str(v2) / "meta.json").is_file()
        assert poller._alias_file()["sms-spam"]["production"] == v2
    finally:
        confirm("sms-spam", v1.version)


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

    def broken(name, version, **kwargs):
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


def test_a_long_model_name_gets_a_short_distinct_folder(tmp_path):
    from inference.serving.local import safe_folder

    # 26 mathematical letters: 12 bytes each once quoted, 312 in all
    long_name = "\U0001d413" * 26
    folder = safe_folder(long_name)
    assert len(folder.encode()) <= 255
    assert folder != safe_folder(long_name + "x")
    assert "/" not in folder and not folder.startswith(".")
    (tmp_path / folder / "413").mkdir(parents=True)  # the file system takes it
    assert safe_folder("sms-spam") == "sms-spam"


def _more_versions(served_sms, count: int) -> list[int]:
    """``count`` new versions of sms-spam (same model files and tags)."""
    v1 = registry.version_get("sms-spam", served_sms.version)
    client = mlflow_store.client()
    return [
        int(
            client.create_model_version(
                "sms-spam", v1.source, v1.run_id, tags=v1.tags
            ).version
        )
        for _ in range(count)
    ]


def test_a_version_no_alias_serves_is_dropped_after_the_grace_period(served_sms):
    cache = model_cache()
    v2, v3 = _more_versions(served_sms, 2)
    now = time.monotonic()
    cache.get(name="sms-spam")  # the production alias: pinned
    cache.get(name="sms-spam", version=v2)
    cache.get(name="sms-spam", version=v3)
    grace = cache.evict_after
    assert cache.evict(now=now + grace / 2) == []  # used within the grace period
    cache._used[("sms-spam", v3)] = now + grace  # v3 used again later
    dropped = cache.evict(now=now + grace + 1)
    assert dropped == [("sms-spam", v2)]
    assert cache.loaded() == {("sms-spam", served_sms.version), ("sms-spam", v3)}
    # the alias's version stays however long it is unused; a dropped version
    # loads again from the local copy when asked for
    assert cache.evict(now=now + 100 * grace) == [("sms-spam", v3)]
    assert cache.loaded() == {("sms-spam", served_sms.version)}
    assert cache.get(name="sms-spam", version=v2).predict(ROWS).labels == [
        "spam",
        "ham",
    ]


def test_the_version_an_alias_left_is_dropped_after_the_grace_period(served_sms):
    cache = model_cache()
    (v2,) = _more_versions(served_sms, 1)
    cache.get(name="sms-spam")
    confirm("sms-spam", v2)
    try:
        assert cache.refresh_aliases() == [
            ("sms-spam", "production", served_sms.version, v2)
        ]
        later = time.monotonic() + cache.evict_after + 1
        assert cache.evict(now=later) == [("sms-spam", served_sms.version)]
        assert cache.loaded() == {("sms-spam", v2)}
    finally:
        confirm("sms-spam", served_sms.version)


def test_loads_past_the_limit_drop_the_least_recently_used_version(served_sms):
    cache = model_cache()
    cache.max_versions = 3
    v2, v3, v4 = _more_versions(served_sms, 3)
    cache.get(name="sms-spam")  # pinned by the alias
    cache.get(name="sms-spam", version=v2)
    cache.get(name="sms-spam", version=v3)
    cache.get(name="sms-spam", version=v2)  # v3 is now the least recently used
    cache.get(name="sms-spam", version=v4)
    assert cache.loaded() == {
        ("sms-spam", served_sms.version),
        ("sms-spam", v2),
        ("sms-spam", v4),
    }


def test_a_load_by_number_that_cannot_fit_is_refused_and_the_alias_served(served_sms):
    cache = model_cache()
    cache.max_versions = 1
    (v2,) = _more_versions(served_sms, 1)
    cache.get(name="sms-spam")  # the only slot, held by the production alias
    with pytest.raises(ModelUnavailable, match="INFERENCE_MAX_LOADED_VERSIONS=1"):
        cache.get(name="sms-spam", version=v2)
    assert cache.loaded() == {("sms-spam", served_sms.version)}
    assert cache.get(name="sms-spam").version == served_sms.version
