"""A JSON renderer for the hot API paths, with orjson.

It renders the same JSON as DRF's ``JSONRenderer`` with the project's
settings (compact, UTF-8) several times faster; anything orjson does not take
(a lazy translation string, a Decimal, an integer over 64 bits) goes through
DRF's renderer instead.
"""

from __future__ import annotations

from typing import Any

import orjson
from rest_framework.renderers import JSONRenderer

OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_UTC_Z


class FastJSONRenderer(JSONRenderer):
    def render(self, data: Any, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        indent = self.get_indent(accepted_media_type or "", renderer_context or {})
        if indent is None:
            try:
                return orjson.dumps(data, option=OPTIONS)
            except TypeError:  # orjson.JSONEncodeError: not a type orjson knows
                pass
        return super().render(data, accepted_media_type, renderer_context)


def json_bytes(value: Any) -> bytes:
    """``value`` as UTF-8 JSON (orjson, or the standard library for what it
    does not take); NaN and infinities become null, as JSON has no such numbers."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)
    except TypeError:
        import json

        return json.dumps(value, default=str).encode()


def json_text(value: Any) -> str:
    """``json_bytes`` as text."""
    return json_bytes(value).decode()
