"""One body cap for every endpoint (core.limits): a declared body over the
resolved view's cap gets 413 in the API's error format before anything reads
it; the batch upload views declare a larger cap of their own."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import RequestFactory

from core.limits import BodyLimitMiddleware, body_cap

CAP = 1000


class Unreadable:
    """A ``wsgi.input`` that fails the test if anything reads it."""

    def read(self, *args):
        raise AssertionError("the body was read")

    readline = read

    def __iter__(self):
        raise AssertionError("the body was read")


def post_declared(client, path: str, length: int, content_type="application/json"):
    return client.generic(
        "POST",
        path,
        b"",
        content_type=content_type,
        CONTENT_LENGTH=str(length),
        **{"wsgi.input": Unreadable()},
    )


@pytest.fixture
def small_cap(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = CAP
    return CAP


def every_view():
    from django.urls import URLPattern, URLResolver, get_resolver

    found = []

    def walk(patterns, prefix):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                found.append((prefix + str(entry.pattern), entry.callback))

    walk(get_resolver().url_patterns, "")
    return found


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/api/governance/requests/", "/api/monitoring/alerts/"]
)
def test_a_governance_or_monitoring_body_over_the_cap_gets_413_json_unread(
    client, small_cap, path, caplog
):
    # given a 12 MB body declared to APIs that used to answer an HTML page
    caplog.set_level(logging.ERROR)
    # when
    response = post_declared(client, path, 12 * 1024 * 1024)
    # then
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert str(12 * 1024 * 1024) in error["message"]
    assert str(CAP) in error["message"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.django_db
def test_form_pages_and_the_admin_login_get_the_same_413(client, small_cap, caplog):
    caplog.set_level(logging.ERROR)
    form = "application/x-www-form-urlencoded"
    for path in ("/admin/login/", "/accounts/login/", "/registry/"):
        response = post_declared(client, path, CAP + 1, form)
        assert response.status_code == 413, path
        assert response.json()["error"]["code"] == "payload_too_large"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.django_db
def test_a_body_at_the_cap_reaches_the_view(client, small_cap):
    body = json.dumps({"x": "a" * (CAP - 20)}).encode()[:CAP]
    response = client.generic(
        "POST", "/api/governance/requests/", body, content_type="application/json"
    )
    assert response.status_code in (400, 401, 403)  # the view answered


@pytest.mark.django_db
def test_a_malformed_content_length_gets_400_json(client):
    response = client.generic(
        "POST",
        "/api/governance/requests/",
        b"",
        content_type="application/json",
        CONTENT_LENGTH="12abc",
        **{"wsgi.input": Unreadable()},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"


def test_every_view_of_the_project_is_capped(settings):
    """Whatever the route, the middleware refuses a body over its view's cap
    (a new route cannot escape it)."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = CAP
    settings.INFERENCE = {**settings.INFERENCE, "BATCH_MAX_UPLOAD_BYTES": 5 * CAP}
    middleware = BodyLimitMiddleware(lambda request: None)
    factory = RequestFactory()
    views = every_view()
    assert len(views) > 50
    for pattern, view in views:
        cap = body_cap(view)
        assert cap in (CAP, 5 * CAP + 64 * 1024), pattern
        request = factory.generic(
            "POST", "/x", b"", CONTENT_LENGTH=str(cap + 1), content_type="text/plain"
        )
        response = middleware.process_view(request, view, (), {})
        assert response is not None and response.status_code == 413, pattern
        request = factory.generic("POST", "/x", b"", CONTENT_LENGTH=str(cap))
        assert middleware.process_view(request, view, (), {}) is None, pattern


def test_only_the_batch_upload_views_take_more_than_the_default(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = CAP
    larger = sorted(p for p, view in every_view() if body_cap(view) > CAP)
    assert larger == ["api/v1/batch-jobs", "batch/"]
