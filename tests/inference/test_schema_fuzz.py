"""Schemathesis against /api/schema/ (the inference endpoints): with a client
token and anonymously, zero server errors and responses that conform to the
schema (RELIABILITY check 8)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

INFERENCE_PATHS = r"^/(invocations|api/v1/(models|predictions|feedback|batch-jobs))"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
FUZZ = hypothesis_settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def _operations():
    from config.wsgi import application

    schema = schemathesis.openapi.from_wsgi("/api/schema/", application).include(
        path_regex=INFERENCE_PATHS
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9, [op.label for op in operations]
    return operations


@pytest.fixture(autouse=True)
def _keep_test_connection():
    """Requests go straight to the WSGI app: like Django's test client, keep
    the request signals from closing the test transaction's connection."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def _fuzz(headers: dict, extra_check=None) -> list[str]:
    """Run every inference operation's generated cases; return the labels run."""
    from hypothesis import given

    labels = []
    for operation in _operations():

        @FUZZ
        @given(case=operation.as_strategy())
        def run(case):
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            if extra_check:
                extra_check(response)

        run()
        labels.append(operation.label)
    return labels


def test_inference_api_with_a_client_token(served_sms, client_user):
    from rest_framework.authtoken.models import Token

    token, _ = Token.objects.get_or_create(user=client_user)
    labels = _fuzz({"Authorization": f"Token {token.key}"})
    assert "POST /api/v1/models/{name}/predict" in labels


def test_inference_api_anonymous(served_sms):
    def refused(response):
        assert response.status_code in (401, 403, 404, 405)

    _fuzz({}, refused)
