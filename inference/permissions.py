"""Who may predict: superusers and members of the INFERENCE["PREDICT_ROLES"]
groups (API clients, data scientists and ops by default). Viewers and
approvers read models and reports but do not send traffic."""

from __future__ import annotations

import time

from django.conf import settings
from rest_framework.permissions import BasePermission


def can_predict(user) -> bool:
    if not user or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    # Group membership is remembered per process for a few seconds: one query
    # less on every prediction; a removed role takes effect within ROLE_TTL.
    now = time.monotonic()
    key = (user.pk, user.get_username())
    hit = _ROLE_CACHE.get(key)
    if hit is not None and hit[1] > now:
        return hit[0]
    roles = settings.INFERENCE["PREDICT_ROLES"]
    allowed = user.groups.filter(name__in=roles).exists()
    if len(_ROLE_CACHE) > 10_000:
        _ROLE_CACHE.clear()
    _ROLE_CACHE[key] = (allowed, now + ROLE_TTL_SECONDS)
    return allowed


ROLE_TTL_SECONDS = 10.0
_ROLE_CACHE: dict[tuple[int, str], tuple[bool, float]] = {}


class CanPredict(BasePermission):
    message = "your account may not send predictions (ask for the api_clients role)"

    def has_permission(self, request, view) -> bool:
        return can_predict(request.user)
