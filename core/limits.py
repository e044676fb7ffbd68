"""One request-body cap for every endpoint, checked before a view reads a byte.

Django caps form bodies it parses (``DATA_UPLOAD_MAX_MEMORY_SIZE``, raising
``RequestDataTooBig`` deep inside a view or the CSRF check, which renders an
HTML 400 page and logs an error) but not a JSON body DRF reads from the
stream. This middleware compares the declared ``Content-Length`` with the
cap of the view the URL resolved to and answers 413 in the API's error
format without reading the body. A view that takes more (the batch upload)
declares it with a ``max_body_bytes`` attribute: an int or a callable
returning one (settings are read per request, never at import time).

A body without ``Content-Length`` (chunked transfer encoding) is not read by
Django at all; a declared length that is not a number gets 400.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from core.errors import PayloadTooLargeError, error_body

logger = logging.getLogger(__name__)

TOO_LARGE = PayloadTooLargeError.code


def too_large_message(size: int | None, cap: int) -> str:
    """The one wording of a refused body, whichever layer refuses it."""
    shown = f" ({size} bytes)" if size is not None else ""
    return f"request body too large{shown}: the limit is {cap} bytes"


def too_large_body(size: int | None, cap: int) -> dict:
    return error_body(
        TOO_LARGE, too_large_message(size, cap), {"body": [f"at most {cap} bytes"]}
    )


def body_cap(view: Callable | None) -> int:
    """The largest body ``view`` accepts: its ``max_body_bytes`` (on the
    function or its class-based view), else ``DATA_UPLOAD_MAX_MEMORY_SIZE``."""
    declared = None
    for holder in (view, getattr(view, "view_class", None), getattr(view, "cls", None)):
        declared = getattr(holder, "max_body_bytes", None)
        if declared is not None:
            break
    if declared is None:
        return settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return int(declared() if callable(declared) else declared)


class BodyLimitMiddleware:
    """413 JSON for a declared body over the resolved view's cap (module
    docstring). Listed before ``CsrfViewMiddleware``, whose ``process_view``
    reads form bodies."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        declared = request.META.get("CONTENT_LENGTH")
        if not declared:
            return None
        try:
            length = int(declared)
        except ValueError:
            length = -1
        if length < 0:
            return _refuse(
                request, 400, error_body("malformed_request", "invalid Content-Length")
            )
        cap = body_cap(view_func)
        if length <= cap:
            return None
        logger.info(
            "refused a %s-byte body to %s %s (cap %s bytes)",
            length,
            request.method,
            request.path,
            cap,
        )
        return _refuse(request, 413, too_large_body(length, cap))


def _refuse(request: HttpRequest, status: int, body: dict) -> JsonResponse:
    if request.META.get("SERVER_SOFTWARE", "").startswith("gunicorn"):
        return LingeringResponse(body, status=status, request=request)
    return JsonResponse(body, status=status)


class LingeringResponse(JsonResponse):
    """A refusal that discards the unread body once the answer is sent.

    gunicorn discards at most 64 KiB of an unread body, then closes the
    connection: a client still sending (most send the whole body before
    reading) then gets a broken pipe or a reset instead of this answer. Like
    a web server's lingering close, the body is read and dropped after the
    answer went out (``close()`` runs after the server wrote it), never
    buffered, for at most ``LINGER_SECONDS``; a client that stops sending
    just ends it."""

    def __init__(self, *args, request: HttpRequest, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._meta = request.META

    def close(self) -> None:
        try:
            _discard(self._meta)
        finally:
            super().close()


LINGER_SECONDS = 10.0
CHUNK = 64 * 1024


def _discard(meta: dict) -> None:
    stream = meta.get("wsgi.input")
    sock = meta.get("gunicorn.socket")
    if stream is None:
        return
    deadline = time.monotonic() + LINGER_SECONDS
    prior = sock.gettimeout() if sock is not None else None
    try:
        while (remaining := deadline - time.monotonic()) > 0:
            if sock is not None:
                sock.settimeout(remaining)
            if not stream.read(CHUNK):
                return
    except (OSError, ValueError):
        return  # the client went away or stalled: the server closes
    finally:
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.settimeout(prior)
