"""The accounts that own the predictions of the channels without a caller.

The stream consumer and scheduled batch jobs answer no authenticated client,
yet feedback is matched on the account that owns a prediction. Each of those
channels logs its predictions under a configured account
(``INFERENCE_STREAM_CLIENT``, ``INFERENCE_SCHEDULED_BATCH_CLIENT``), so that
account, and the label roles, can send their labels.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured


def channel_owner_get(*, username: str | None, setting: str):
    """The active user named ``username``; None when the name is blank.

    A name that is no active user is a configuration mistake: it raises
    ``ImproperlyConfigured`` naming ``setting`` rather than logging
    predictions nobody can label.
    """
    if not username:
        return None
    user_model = get_user_model()
    user = (
        user_model._default_manager.filter(
            **{user_model.USERNAME_FIELD: username}, is_active=True
        )
        .order_by()
        .first()
    )
    if user is None:
        raise ImproperlyConfigured(
            f"{setting}={username!r} names no active user: create the account "
            "(e.g. manage.py create_api_token) or change the setting"
        )
    return user
