"""Real gunicorn workers against the test PostgreSQL database: count equality
(RELIABILITY check 9), alias swap under load (check 16) and serving with
MLflow stopped, including after a restart."""

from __future__ import annotations

import os
import sys
import time
from collections import Counter

import pytest

from core import registry
from core.registry import mlflow_store
from inference.models import PredictionLog
from tests.inference import live
from tests.inference.conftest import confirm

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PORT = 8111
MLFLOW_PORT = 5110
MLFLOW_DOWN_PORT = 8112


@pytest.fixture(scope="module")
def gunicorn(django_db_setup, django_db_blocker, trained_models, tmp_path_factory):
    """Two gunicorn workers of four threads (production settings, each worker
    pinned to a CPU as on a dedicated machine) serving sms-spam@production."""
    with django_db_blocker.unblock():
        confirm("sms-spam", trained_models["sms-spam"].version)
    tmp = tmp_path_factory.mktemp("gunicorn")
    proc = live.start_gunicorn(tmp, PORT, workers=2, GUNICORN_CPU_AFFINITY="1")
    yield proc
    proc.stop()


def _token(make_user, name="load-client") -> str:
    from django.contrib.auth.models import Group
    from rest_framework.authtoken.models import Token

    # a transactional test's flush also empties the groups the migration made
    Group.objects.get_or_create(name="api_clients")

    return Token.objects.create(user=make_user(name, roles=["api_clients"])).key


def _check_logged(results) -> None:
    ok = [r for r in results if r.status == 200]
    logged = {
        str(pid): (version, rid)
        for pid, version, rid in PredictionLog.objects.values_list(
            "prediction_id", "model_version", "request_id"
        )
    }
    assert len(logged) == len(ok)
    for r in ok:
        row = r.body["predictions"][0]
        assert logged[row["prediction_id"]] == (r.body["model_version"], r.request_id)


def _listening_sockets(port: int) -> int:
    """Listening TCP sockets on ``port`` (from /proc/net/tcp)."""
    with open("/proc/net/tcp") as table:
        next(table)
        return sum(
            1
            for line in table
            if line.split()[1].endswith(f":{port:04X}") and line.split()[3] == "0A"
        )


def test_each_worker_listens_on_its_own_socket(gunicorn):
    # SO_REUSEPORT: the kernel spreads new connections over the two workers
    # (a worker opens its socket once its models are loaded)
    deadline = time.monotonic() + 60
    while _listening_sockets(PORT) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _listening_sockets(PORT) == 2


def _worker_cpus(master: int) -> dict[str, set[str]]:
    """Per worker process: the CPU lists its threads may run on."""
    cpus: dict[str, set[str]] = {}
    with open(f"/proc/{master}/task/{master}/children") as children:
        for pid in children.read().split():
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/status") as status:
                    for line in status:
                        if line.startswith("Cpus_allowed_list:"):
                            cpus.setdefault(pid, set()).add(line.split()[1])
    return cpus


def test_each_worker_runs_on_its_own_cpu(gunicorn):
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two CPUs")
    # every thread of a worker (its request threads included) on one CPU,
    # and the two workers on different CPUs
    live.wait_http(PORT, "/health/ready", gunicorn)
    by_worker = _worker_cpus(gunicorn.popen.pid)
    assert len(by_worker) == 2, by_worker
    assert all(len(masks) == 1 for masks in by_worker.values()), by_worker
    masks = [next(iter(m)) for m in by_worker.values()]
    assert all(mask.isdigit() for mask in masks) and len(set(masks)) == 2, by_worker


# 2,000 in CI; `make reliability-inference` runs 10,000
LOAD_REQUESTS = int(os.environ.get("INFERENCE_LOAD_REQUESTS", "2000"))


def test_count_equality_under_load(
    transactional_db, gunicorn, make_user, trained_models
):
    # (a transactional test's flush empties the ledger: confirm production again)
    confirm("sms-spam", trained_models["sms-spam"].version)
    # when predictions with unique request ids arrive at concurrency 16
    load = live.Load(PORT, _token(make_user))
    results = load.run(total=LOAD_REQUESTS, concurrency=16)
    # then no server error, one log row per 2xx response, no duplicates,
    # and the logged version is the returned one
    statuses = Counter(r.status for r in results)
    assert statuses == {200: LOAD_REQUESTS}, statuses
    assert PredictionLog.objects.count() == LOAD_REQUESTS
    assert (
        PredictionLog.objects.values("request_id").distinct().count() == LOAD_REQUESTS
    )
    _check_logged(results)


def _wait_for(load: live.Load, version: int, since: int, timeout: float) -> float:
    """Seconds until 50 consecutive responses (after index ``since``) report
    ``version``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        recent = load.results[since:]
        tail = [r.body.get("model_version") for r in recent[-50:]]
        if len(tail) == 50 and set(tail) == {version}:
            first = next(
                r.finished for r in recent if r.body.get("model_version") == version
            )
            return first - started
        time.sleep(0.2)
    seen = Counter(
        (r.status, r.body.get("model_version")) for r in load.results[since:]
    )
    raise AssertionError(f"v{version} not served within {timeout}s: {seen}")


def test_alias_follows_promotion_and_rollback_under_load(
    transactional_db, gunicorn, make_user, trained_models
):
    # given a second version of the model
    v1 = registry.version_get("sms-spam", trained_models["sms-spam"].version)
    v2 = mlflow_store.client().create_model_version(
        "sms-spam", v1.source, v1.run_id, tags=v1.tags
    )
    v2 = int(v2.version)
    confirm("sms-spam", v1.version)
    load = live.Load(PORT, _token(make_user))
    threads = load.start_background(concurrency=8)
    try:
        time.sleep(1.0)
        # when production moves to v2 while requests flow, then back to v1
        mark = len(load.results)
        confirm("sms-spam", v2)
        switch_up = _wait_for(load, v2, mark, timeout=30)
        mark = len(load.results)
        confirm("sms-spam", v1.version)
        switch_back = _wait_for(load, v1.version, mark, timeout=30)
    finally:
        load.stop(threads)
        confirm("sms-spam", v1.version)
    # then nothing failed and every response names the version that served it
    statuses = Counter(r.status for r in load.results)
    assert set(statuses) == {200}, statuses
    versions = Counter(r.body["model_version"] for r in load.results)
    assert set(versions) == {v1.version, v2}
    _check_logged(load.results)
    # documented bound: poll interval (1 s here) + loading the version
    assert switch_up < 15 and switch_back < 15, (switch_up, switch_back)
    print(
        f"switch to v{v2}: {switch_up:.2f}s, back: {switch_back:.2f}s, "
        f"{len(load.results)} requests",
        file=sys.stderr,
    )


def test_production_moved_directly_in_mlflow_is_never_served(
    transactional_db, gunicorn, make_user, trained_models
):
    """Issue 17.6: the workers follow the aliases governance confirmed; a move
    made behind its back in MLflow is flagged by the reconciler, not served."""
    from governance.models import AuditEvent
    from governance.services.reconcile import registry_reconcile_run

    # given production confirmed at v1 and a second version registered
    v1 = registry.version_get("sms-spam", trained_models["sms-spam"].version)
    v2 = int(
        mlflow_store.client()
        .create_model_version("sms-spam", v1.source, v1.run_id, tags=v1.tags)
        .version
    )
    confirm("sms-spam", v1.version)
    load = live.Load(PORT, _token(make_user, "oob-client"))
    threads = load.start_background(concurrency=4)
    try:
        time.sleep(1.0)
        # when someone moves @production to v2 directly in MLflow
        mark = len(load.results)
        registry.alias_set("sms-spam", "production", v2)
        # then over several poll intervals (1 s) and a reconciliation, every
        # response is still v1's
        time.sleep(4.0)
        registry_reconcile_run()
        time.sleep(3.0)
    finally:
        load.stop(threads)
        registry.alias_set("sms-spam", "production", v1.version)
    after = load.results[mark:]
    assert len(after) > 50
    assert {(r.status, r.body.get("model_version")) for r in after} == {
        (200, v1.version)
    }
    # (the reconciliation also judges other tests' models: only this move counts)
    flagged = AuditEvent.objects.filter(
        kind="alias_out_of_band", alias="production", model_name="sms-spam", version=v2
    )
    assert [event.payload["expected"] for event in flagged] == [v1.version]
    print(f"{len(after)} responses after the move, all v{v1.version}", file=sys.stderr)


def test_serving_continues_with_mlflow_stopped_and_after_restart(
    transactional_db, trained_models, make_user, tmp_path
):
    from django.conf import settings

    confirm("sms-spam", trained_models["sms-spam"].version)
    mlflow = live.start(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(MLFLOW_PORT),
            "--backend-store-uri",
            settings.MLFLOW_TRACKING_URI,
            "--workers",
            "1",
        ],
        live.process_env(tmp_path),
        tmp_path / "mlflow.log",
    )
    web = None
    t0 = time.monotonic()

    def phase(name):
        print(f"{name}: {time.monotonic() - t0:.1f}s", file=sys.stderr)

    try:
        live.wait_http(MLFLOW_PORT, "/health", mlflow, timeout=120)
        phase("mlflow up")
        remote = {
            "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{MLFLOW_PORT}",
            "MLFLOW_REGISTRY_URI": f"http://127.0.0.1:{MLFLOW_PORT}",
        }
        web = live.start_gunicorn(tmp_path, MLFLOW_DOWN_PORT, workers=1, **remote)
        load = live.Load(MLFLOW_DOWN_PORT, _token(make_user))
        assert {r.status for r in load.run(total=20, concurrency=2)} == {200}

        phase("served through MLflow")
        # when MLflow stops
        mlflow.stop()
        phase("mlflow stopped")
        # then predictions are still served and logged
        results = load.run(total=50, concurrency=4)
        assert {r.status for r in results} == {200}

        # and after a restart of the web server, from the local cache
        web.stop()
        phase("web stopped")
        web = live.start_gunicorn(tmp_path, MLFLOW_DOWN_PORT, workers=1, **remote)
        phase("web restarted")
        after = live.Load(MLFLOW_DOWN_PORT, load.token)
        results = after.run(total=50, concurrency=4)
        phase("served from the local copy")
        assert {r.status for r in results} == {200}, results[0].body
        assert {r.body["model_version"] for r in results} == {1}
        assert PredictionLog.objects.count() == 120
    finally:
        if web is not None:
            web.stop()
        mlflow.stop()
        phase("stopped")
