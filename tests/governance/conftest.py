"""Fixtures of the governance tests.

Every test that moves aliases works on its own registered model (a copy of the
session's trained SMS model, registered under a fresh name in the session's
MLflow store), so aliases set by one test never leak into another.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from governance.choices import Role

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
    from governance import registry
    from governance.services import registered_model_sync

    base = trained_models["sms-spam"]
    source = registry.version_get("sms-spam", base.version)
    made: list[str] = []

    def make(versions: int = 2, *, tags: dict[int, dict] | None = None) -> str:
        name = f"gov-{uuid.uuid4().hex[:10]}"
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
    # MLflow outlives the test's database: leave no governed alias behind that a
    # later test's reconciliation would see as changed outside Modelgate
    for name in made:
        try:
            aliases = registry.model_get(name).aliases
        except registry.RegistryError:
            continue
        for alias in ("staging", "production", "previous"):
            if alias in aliases:
                registry.alias_delete(name, alias)


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
    from governance import registry

    def read(name: str) -> dict[str, int]:
        model = registry.client().get_registered_model(name)
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
