"""Fixtures of the governance tests.

Every test that moves aliases works on its own registered model (a copy of the
session's trained SMS model, registered under a fresh name in the session's
MLflow store), so aliases set by one test never leak into another.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from core.roles import Role

ROLE_USERS = {
    "alice": [Role.REQUESTER],
    "amos": [Role.REQUESTER],
    "bob": [Role.STAGING_APPROVER, Role.VIEWER],
    "bea": [Role.STAGING_APPROVER, Role.VIEWER],
    "carol": [Role.PRODUCTION_APPROVER, Role.VIEWER],
    "dave": [Role.PRODUCTION_APPROVER, Role.VIEWER],
    "erin": [Role.OPS, Role.VIEWER],
    "victor": [Role.VIEWER],
    "client": [Role.API_CLIENT],
}


@dataclass
class People:
    alice: object
    amos: object
    bob: object
    bea: object
    carol: object
    dave: object
    erin: object
    victor: object
    client: object
    admin: object


@pytest.fixture(autouse=True)
def _eager_tasks_keep_the_test_connection(request):
    """config.celery_app closes stale database connections around every task,
    which is right in a worker process; but a task run eagerly inside a test's
    transaction would close the test's own connection (PostgreSQL, file SQLite).
    The handlers stay connected for tests that run a real worker."""
    import importlib

    from celery import signals

    celery_app = importlib.import_module("config.celery_app")
    if "worker" in request.fixturenames:
        yield
        return
    handlers = [
        (signals.task_prerun, celery_app._close_stale_connections_before),
        (signals.task_postrun, celery_app._close_stale_connections_after),
    ]
    for signal, handler in handlers:
        signal.disconnect(handler)
    yield
    for signal, handler in handlers:
        signal.connect(handler)


@pytest.fixture
def people(make_user) -> People:
    users = {
        name: make_user(name, roles=[r.value for r in roles], is_staff=True)
        for name, roles in ROLE_USERS.items()
    }
    users["admin"] = make_user("admin", is_staff=True, is_superuser=True)
    return People(**users)


@pytest.fixture
def no_staging_wait(settings):
    """Production's minimum time in staging set to 0 (tested on its own)."""
    settings.GOVERNANCE = {**settings.GOVERNANCE, "MIN_STAGING_MINUTES": 0}


@pytest.fixture
def model_factory(trained_models, db):
    """``make(versions=2, tags={2: {...}})`` → the name of a new registered model
    whose versions are copies of the trained SMS v1 (same run, metrics, signature)."""
    from core import registry
    from core.registry import mlflow_store
    from governance.services import registered_model_sync

    base = trained_models["sms-spam"]
    source = registry.version_get("sms-spam", base.version)
    made: list[str] = []

    def make(
        versions: int = 2, *, tags: dict[int, dict] | None = None, prefix: str = "gov"
    ) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[: 6 if prefix != 'gov' else 10]}"
        made.append(name)
        for number in range(1, versions + 1):
            registry.version_register(
                name=name,
                model_uri=source.source,
                run_id=source.run_id,
                tags={**source.tags, **(tags or {}).get(number, {})},
            )
        registered_model_sync(name=name)
        return name

    yield make
    # MLflow outlives the test's database: remove the test's models so a later
    # reconciliation neither sees their aliases as changed outside Modelgate nor
    # spends time mirroring them
    import contextlib

    client = mlflow_store.client()
    for name in made:
        with contextlib.suppress(Exception):  # already gone
            client.delete_registered_model(name)


@pytest.fixture
def commits(django_capture_on_commit_callbacks):
    """``with commits(): ...`` runs what the block queued for after commit
    (tasks run eagerly in tests, e-mails are sent to the locmem outbox)."""

    def run():
        return django_capture_on_commit_callbacks(execute=True)

    return run


@pytest.fixture
def mlflow_aliases():
    """``mlflow_aliases(name)`` → the aliases MLflow itself reports now."""
    from core.registry import mlflow_store

    def read(name: str) -> dict[str, int]:
        model = mlflow_store.client().get_registered_model(name)
        return {alias: int(version) for alias, version in model.aliases.items()}

    return read


@pytest.fixture
def open_request(people, commits, no_staging_wait):
    """``open_request(name, version, target)`` → a pending request whose checks
    ran (and passed unless the version makes them fail)."""
    from governance.services.requests import promotion_request_create

    def make(name: str, version: int, target: str, *, user=None):
        with commits():
            request = promotion_request_create(
                user=user or people.alice,
                model_name=name,
                version=version,
                target=target,
                justification=f"{name} v{version} to {target}",
            )
        request.refresh_from_db()
        return request

    return make


@pytest.fixture
def in_staging(open_request, people, commits):
    """``in_staging(name, version)``: promote through staging (bob approves)."""
    from governance.services.approvals import promotion_approve

    def promote(name: str, version: int):
        request = open_request(name, version, "staging")
        with commits():
            promotion_approve(request_id=request.pk, user=people.bob)
        request.refresh_from_db()
        assert request.status == "applied", request.apply_error
        return request

    return promote


@pytest.fixture
def in_production(in_staging, open_request, people, commits):
    """``in_production(name, version)``: staging, then production (carol, dave)."""
    from governance.services.approvals import promotion_approve

    def promote(name: str, version: int):
        in_staging(name, version)
        request = open_request(name, version, "production")
        for approver in (people.carol, people.dave):
            with commits():
                promotion_approve(request_id=request.pk, user=approver)
        request.refresh_from_db()
        assert request.status == "applied", request.apply_error
        return request

    return promote


def _create_governance_defaults() -> None:
    import importlib

    from django.apps import apps

    importlib.import_module("governance.migrations.0002_roles").create_roles(apps, None)
    importlib.import_module(
        "governance.migrations.0004_default_policies"
    ).create_defaults(apps, None)


@pytest.fixture
def governance_defaults(transactional_db):
    """Role groups, default policies and the audit chain head, as the migrations
    create them (a transactional test's flush removes migration data)."""
    _create_governance_defaults()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """After a transactional test's flush, put the governance migrations' rows
    (role groups, default policies) back, so later tests, of any app, find the
    database as migrations left it."""
    yield
    if "transactional_db" not in getattr(item, "fixturenames", ()):
        return
    if nextitem is None:  # the session's last test: the test database is gone
        return
    from pytest_django.plugin import blocking_manager_key

    with item.config.stash[blocking_manager_key].unblock():
        _create_governance_defaults()


# ------------------------------------------------------------------ servers
# Ports reserved for governance's test servers: 8120-8129 (HTTP), 5120-5129 (MLflow).
LIVE_SERVER_ADDRESS = "127.0.0.1:8121"


@pytest.fixture(scope="session")
def gov_live_server(django_db_setup, django_db_blocker):
    """Django served on a fixed loopback port in a thread (tests using it need
    transactional database access)."""
    from pytest_django.live_server_helper import LiveServer

    server = LiveServer(LIVE_SERVER_ADDRESS)
    yield server
    server.stop()


class MlflowServer:
    """A real ``mlflow server`` subprocess (SQLite backend in a temp folder) that
    tests can stop and start again on the same store and port."""

    def __init__(self, folder, port: int, env: dict[str, str] | None = None) -> None:
        self.folder, self.port = folder, port
        self.env = {**__import__("os").environ, **(env or {})}
        self.process = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> None:
        import subprocess
        import sys
        import time
        import urllib.request

        log = open(self.folder / "server.log", "ab")  # noqa: SIM115 - closed by the process
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow",
                "server",
                "--backend-store-uri",
                f"sqlite:///{self.folder / 'mlflow.db'}",
                "--artifacts-destination",
                str(self.folder / "artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
            ],  # fmt: skip
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log_text = (self.folder / "server.log").read_text()[-2000:]
                raise RuntimeError(f"mlflow server exited: {log_text}")
            try:
                health = f"{self.url}/health"
                with urllib.request.urlopen(health, timeout=1) as answer:  # noqa: S310
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"mlflow server did not answer within {timeout} s")

    def stop(self) -> None:
        import contextlib
        import os
        import signal
        import subprocess

        if self.process is None or self.process.poll() is not None:
            return
        group = os.getpgid(self.process.pid)
        os.killpg(group, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(group, signal.SIGKILL)
            self.process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):  # workers left in the group
            os.killpg(group, signal.SIGKILL)
        self.process = None


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """An MLflow tracking server on port 5121, started once per session (the
    transactional tests using it run apart from the others)."""
    server = MlflowServer(
        tmp_path_factory.mktemp("mlflow-server"),
        5121,
        env={
            "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
            "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
            "MLFLOW_WEBHOOK_CACHE_TTL": "1",
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        },
    )
    server.start()
    yield server
    server.stop()


# ------------------------------------------------------------------ browser
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium driven by Playwright. Missing Chromium skips, unless
    MODELGATE_REQUIRE_BROWSER=1 (CI), where it fails."""
    import os
    import shutil

    required = os.environ.get("MODELGATE_REQUIRE_BROWSER", "") in ("1", "true", "yes")
    if not shutil.which(CHROMIUM):
        if required:
            pytest.fail(f"MODELGATE_REQUIRE_BROWSER=1 and {CHROMIUM} is missing")
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the test's own
    # database calls are still synchronous.
    saved = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
            yield browser
            browser.close()
    finally:
        if saved is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = saved


@pytest.fixture
def screenshot(tmp_path):
    """``screenshot(page, "name")``: a PNG in the test's folder, and in docs/img
    when MODELGATE_SCREENSHOTS=1 (how the documentation's images are made)."""
    import os
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs" / "img"
    to_docs = os.environ.get("MODELGATE_SCREENSHOTS", "") == "1"

    def take(page, name: str, *, full_page: bool = True) -> None:
        page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=full_page)
        if to_docs:
            docs.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(docs / f"{name}.png"), full_page=full_page)

    return take
