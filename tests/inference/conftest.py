"""Fixtures of the inference tests: served models and API clients."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient


@pytest.fixture(autouse=True)
def _fresh_process_state():
    """Each test starts with an empty model cache object and role memo (the
    downloaded files stay, as they would on a real machine)."""
    from core.authentication import forget_tokens
    from inference import permissions
    from inference.serving import reset_model_cache
    from inference.serving.policy import forget_overrides

    reset_model_cache()
    forget_overrides()
    permissions._ROLE_CACHE.clear()
    forget_tokens()
    yield
    reset_model_cache()


def confirm(name: str, version: int, alias: str = "production") -> None:
    """Point ``name@alias`` at ``version`` the way governance confirms it (the
    MLflow alias and a recorded move in the ledger): the model cache serves
    only confirmed aliases, never a move made directly in MLflow."""
    from governance.services.serving import alias_move_record

    alias_move_record(
        name=name, alias=alias, version=version, actor="tests", reason="test setup"
    )


@pytest.fixture
def served_sms(sms_model):
    """sms-spam v1 at @production."""
    confirm("sms-spam", sms_model.version)
    return sms_model


@pytest.fixture
def served_tabular(tabular_model):
    confirm("breast-cancer", tabular_model.version)
    return tabular_model


def token_client(user) -> APIClient:
    from rest_framework.authtoken.models import Token

    token, _ = Token.objects.get_or_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def client_user(make_user):
    return make_user("client-a", roles=["api_clients"])


@pytest.fixture
def api(client_user) -> APIClient:
    """An API client authenticated by token as a member of api_clients."""
    return token_client(client_user)


@pytest.fixture
def other_api(make_user) -> APIClient:
    return token_client(make_user("client-b", roles=["api_clients"]))


@pytest.fixture
def role_groups(db):
    """The role groups, re-created if a transactional test's flush removed them."""
    from django.contrib.auth.models import Group

    from core.roles import Role

    for role in Role:
        Group.objects.get_or_create(name=role.value)
