"""A hard request-body cap in front of Django, at the WSGI server.

gunicorn caps the request line and headers but not the body. Django's
``DATA_UPLOAD_MAX_MEMORY_SIZE`` and the prediction parser cap what a view
reads; this wrapper refuses a declared ``Content-Length`` above the largest
body any route accepts (the batch CSV upload) before a worker reads a byte of
it, so a client cannot tie up a worker by streaming gigabytes. Below that,
``core.limits.BodyLimitMiddleware`` applies each view's own cap.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

from core.exceptions import error_body
from core.limits import too_large_body

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


def body_limit(app: WSGIApp, max_bytes: int) -> WSGIApp:
    """``app`` behind a ``Content-Length`` cap of ``max_bytes`` (413 above it,
    400 for a malformed length), answered in the API's error format."""

    def refuse(start_response, status: str, body: dict) -> list[bytes]:
        body = json.dumps(body).encode()
        start_response(
            status,
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("Connection", "close"),
            ],
        )
        return [body]

    def wrapped(environ: dict, start_response):
        declared = environ.get("CONTENT_LENGTH") or ""
        if declared:
            try:
                length = int(declared)
            except ValueError:
                length = -1
            if length < 0:
                return refuse(
                    start_response,
                    "400 Bad Request",
                    error_body("malformed_request", "invalid Content-Length"),
                )
            if length > max_bytes:
                return refuse(
                    start_response,
                    "413 Request Entity Too Large",
                    too_large_body(length, max_bytes),
                )
        return app(environ, start_response)

    return wrapped
