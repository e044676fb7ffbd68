"""Shared fixtures.

Services: tests marked ``postgres`` or ``redis`` need the real servers. When
MODELGATE_REQUIRE_SERVICES=1 (CI) they fail if the server is unreachable;
otherwise they are skipped with the reason shown in the summary (-ra).

MLflow: every test session has its own local store (see config/settings/test.py).
The demo models are trained once per session, on demand, by ``trained_models``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
REQUIRE = os.environ.get("MODELGATE_REQUIRE_SERVICES", "") in ("1", "true", "yes")
TEST_REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def _unavailable(item: pytest.Item, reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"MODELGATE_REQUIRE_SERVICES=1 and {reason}", pytrace=False)
    pytest.skip(reason)


def _redis_problem() -> str | None:
    import redis

    try:
        redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=1).ping()
    except Exception as exc:
        return f"Redis at {TEST_REDIS_URL} is unreachable ({type(exc).__name__})"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres"):
        engine = settings.DATABASES["default"]["ENGINE"]
        if "postgresql" not in engine:
            _unavailable(
                item, "the test needs PostgreSQL (DATABASE_URL=postgres://...)"
            )
    if item.get_closest_marker("redis"):
        problem = _redis_problem()
        if problem:
            _unavailable(item, problem)


@pytest.fixture(scope="session")
def redis_url() -> str:
    return TEST_REDIS_URL


@pytest.fixture
def redis_client(redis_url):
    """A Redis client on the test server; keys under ``mg-test:`` are removed after."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_connect_timeout=1)
    yield client
    for key in client.scan_iter("mg-test:*"):
        client.delete(key)


# ------------------------------------------------------------------ training
FAST = [
    "reference.cv_folds=2",
    "reference.sample_size=500",
    "outliers.n_estimators=25",
]


@pytest.fixture(scope="session")
def trained_models(django_db_setup, django_db_blocker):
    """Train and register v1 of the SMS and tabular demo models in this session's
    MLflow store (once per session). Returns ``{name: Registered}``."""
    from trainer.config import load_config
    from trainer.services import training_run

    results = {}
    with django_db_blocker.unblock():
        for path in ("params.yaml", "params-tabular.yaml"):
            config = load_config(ROOT / path, FAST)
            result = training_run(config=config, progress=lambda _m: None)
            results[result.name] = result
    return results


@pytest.fixture
def sms_model(trained_models, db):
    """The SMS model, registered in MLflow and mirrored in this test's database."""
    from governance.services import registered_model_sync

    registered_model_sync(name="sms-spam")
    return trained_models["sms-spam"]


@pytest.fixture
def tabular_model(trained_models, db):
    from governance.services import registered_model_sync

    registered_model_sync(name="breast-cancer")
    return trained_models["breast-cancer"]


# --------------------------------------------------------------------- users
@pytest.fixture
def make_user(db):
    """``make_user("alice", roles=["requesters"])`` → a user in those groups."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    def make(username: str, *, roles: list[str] = (), password: str = "pw", **extra):
        user = get_user_model().objects.create_user(
            username=username,
            password=password,
            email=f"{username}@example.com",
            **extra,
        )
        if roles:
            user.groups.set(Group.objects.filter(name__in=roles))
        return user

    return make


# ---------------------------------------------------------------- monitoring
@pytest.fixture
def tabular_reference(tabular_model):
    """The breast-cancer v1 reference sample, through monitoring's cache."""
    from monitoring.models import Monitor
    from monitoring.services.monitors import monitor_target, reference_sample_load

    target = monitor_target(monitor=Monitor(model_name="breast-cancer"), version=1)
    return reference_sample_load(target=target)
