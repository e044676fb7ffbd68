"""Who may predict: superusers and members of the INFERENCE["PREDICT_ROLES"]
groups (API clients, data scientists and ops by default). Viewers and
approvers read models and reports but do not send traffic. Who may label the
predictions of the channels without a caller (stream, scheduled batch):
their owners and the INFERENCE["LABEL_ROLES"] groups. Who may be served
``@staging``, ``@previous`` or an explicit version: superusers and the
INFERENCE["SERVE_UNPROMOTED_ROLES"] groups; everyone else is served
``@production`` (``inference.serving.policy``)."""

from __future__ import annotations

import time

from django.conf import settings
from rest_framework.permissions import BasePermission


def _in_roles(user, setting: str) -> bool:
    if not user or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    # Group membership is remembered per process for a few seconds: one query
    # less on every prediction; a removed role takes effect within ROLE_TTL.
    now = time.monotonic()
    key = (user.pk, user.get_username(), setting)
    hit = _ROLE_CACHE.get(key)
    if hit is not None and hit[1] > now:
        return hit[0]
    roles = settings.INFERENCE[setting]
    allowed = user.groups.filter(name__in=roles).exists()
    if len(_ROLE_CACHE) > 10_000:
        _ROLE_CACHE.clear()
    _ROLE_CACHE[key] = (allowed, now + ROLE_TTL_SECONDS)
    return allowed


def can_predict(user) -> bool:
    return _in_roles(user, "PREDICT_ROLES")


def can_precompute(user) -> bool:
    """Whether ``user`` may fill the precomputed store through the API (its
    entries answer every client that asks by key)."""
    return _in_roles(user, "PRECOMPUTE_ROLES")


def may_serve_unpromoted(user) -> bool:
    """Whether ``user`` may be served a version production does not serve."""
    return _in_roles(user, "SERVE_UNPROMOTED_ROLES")


def can_label(user) -> bool:
    """Whether ``user`` may label stream and scheduled-batch predictions it
    does not own."""
    return _in_roles(user, "LABEL_ROLES")


ROLE_TTL_SECONDS = 10.0
_ROLE_CACHE: dict[tuple[int, str, str], tuple[bool, float]] = {}


class CanPredict(BasePermission):
    message = "your account may not send predictions (ask for the api_clients role)"

    def has_permission(self, request, view) -> bool:
        return can_predict(request.user)


class CanSendFeedback(BasePermission):
    message = "your account may not send labels (ask for the api_clients role)"

    def has_permission(self, request, view) -> bool:
        return can_predict(request.user) or can_label(request.user)
