"""The WSGI body cap refuses oversized declared bodies before the app runs."""

import json

from core.wsgi_limits import body_limit


def call(app, content_length):
    seen = {}

    def start_response(status, headers):
        seen["status"] = status
        seen["headers"] = dict(headers)

    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/x"}
    if content_length is not None:
        environ["CONTENT_LENGTH"] = content_length
    body = b"".join(app(environ, start_response))
    return seen["status"], seen["headers"], body


def inner(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"reached"]


def test_bodies_up_to_the_cap_reach_the_app():
    app = body_limit(inner, 1000)
    for length in (None, "", "0", "1000"):
        status, _, body = call(app, length)
        assert (status, body) == ("200 OK", b"reached")


def test_a_body_over_the_cap_gets_413_json_and_never_reaches_the_app():
    status, headers, body = call(body_limit(inner, 1000), "1001")
    assert status.startswith("413")
    assert headers["Content-Type"] == "application/json"
    error = json.loads(body)["error"]
    assert error["code"] == "payload_too_large"
    assert "1001" in error["message"] and "1000" in error["message"]


def test_a_malformed_length_gets_400():
    for length in ("abc", "-5", "1e9"):
        status, _, body = call(body_limit(inner, 1000), length)
        assert status.startswith("400"), length
        assert json.loads(body)["error"]["code"] == "malformed_request"


def test_the_production_application_is_wrapped():
    from config.wsgi import application

    status, _, _ = call(application, str(10**12))
    assert status.startswith("413")
