"""Token authentication with a short in-process memory of valid tokens.

DRF's ``TokenAuthentication`` reads the token and its user from the database
on every request; a prediction client sends hundreds per second. Known tokens
are kept for ``TTL_SECONDS``: a token deleted in the admin (or rotated by
``create_api_token --rotate``) stops working within that time, and a
deactivated user as well.
"""

from __future__ import annotations

import time

from rest_framework.authentication import TokenAuthentication

TTL_SECONDS = 30.0
MAX_ENTRIES = 10_000
_KNOWN: dict[str, tuple[object, object, float]] = {}


class CachedTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key):
        now = time.monotonic()
        hit = _KNOWN.get(key)
        if hit is not None and hit[2] > now:
            return hit[0], hit[1]
        user, token = super().authenticate_credentials(key)
        if len(_KNOWN) >= MAX_ENTRIES:
            _KNOWN.clear()
        _KNOWN[key] = (user, token, now + TTL_SECONDS)
        return user, token


def forget_tokens() -> None:
    """Drop the memory (tests)."""
    _KNOWN.clear()
