"""The API's JSON parser (every endpoint): enforces the body cap.

DRF's own JSON parser reads the WSGI stream directly, where Django's
``DATA_UPLOAD_MAX_MEMORY_SIZE`` does not apply. Every declared length is
refused above its view's cap by ``core.limits.BodyLimitMiddleware``; this
parser also stops reading at the cap whatever was declared, and turns every
way JSON can be broken (bad UTF-8, NaN or Infinity literals, nesting deep
enough to exhaust the parser) into a 400 instead of a server error.
"""

from __future__ import annotations

import json

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from core.errors import PayloadTooLargeError
from core.limits import too_large_message

DRAIN_LIMIT = 64 * 1024 * 1024
CHUNK = 1024 * 1024


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON (numbers must be finite)")


def _drain(stream, limit: int) -> None:
    """Read and drop the rest of a refused body so the client can read our
    answer on the same connection (up to ``limit`` bytes)."""
    read = 0
    while read < limit:
        chunk = stream.read(CHUNK)
        if not chunk:
            return
        read += len(chunk)


def too_large(size: int | None = None) -> PayloadTooLargeError:
    cap = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return PayloadTooLargeError(
        too_large_message(size, cap), {"fields": {"body": [f"at most {cap} bytes"]}}
    )


def loads_strict(data: bytes | str):
    """``json.loads`` that refuses NaN/Infinity and never raises anything but
    ``ParseError``."""
    try:
        return json.loads(data, parse_constant=_reject_constant)
    except RecursionError:
        raise ParseError("malformed JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, our NaN check
        raise ParseError(f"malformed JSON: {exc}") from None


class CappedJSONParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        cap = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        request = (parser_context or {}).get("request")
        declared = None
        if request is not None:
            try:
                declared = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                declared = None
        if declared and declared > cap:
            _drain(stream, DRAIN_LIMIT)
            raise too_large(declared)
        data = stream.read(cap + 1)
        if len(data) > cap:
            _drain(stream, DRAIN_LIMIT)
            raise too_large()
        return loads_strict(data)
