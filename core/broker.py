"""Helpers for the Celery broker in use (filesystem by default, Redis in production)."""

from pathlib import Path

from django.conf import settings


def broker_is_filesystem() -> bool:
    return settings.CELERY_BROKER_URL.startswith("filesystem://")


def ensure_broker_dirs() -> None:
    """Create the filesystem broker's folders; kombu does not create them itself."""
    if not broker_is_filesystem():
        return
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    for key in (
        "data_folder_in",
        "data_folder_out",
        "processed_folder",
        "control_folder",
    ):
        Path(options[key]).mkdir(parents=True, exist_ok=True)


def guard_redis_channel_close() -> None:
    """Keep the Celery worker alive when the Redis broker goes away mid-task.

    On a lost broker connection, Celery 5.7's consumer first ``collect()``s the
    connection (which detaches the kombu transport from it) and then
    ``close()``s it. If a message was delivered but not yet acknowledged
    (``acks_late``), closing the channel tries to restore it through a new
    Redis client, whose parameters come from the detached transport: an
    ``AttributeError`` that Celery reports as "Unrecoverable error" and the
    worker exits instead of reconnecting (seen with Redis stopped during
    reliability check 10).

    With this guard the channel raises Redis' own ``ConnectionError`` there,
    one of the transport's connection errors, which kombu and Celery already
    ignore while closing; the worker then reconnects. The message stays in
    Redis' unacked set and is redelivered after the visibility timeout, as
    after any lost connection. Idempotent.
    """
    from kombu.transport import redis as kombu_redis
    from redis.exceptions import ConnectionError as RedisConnectionError

    channel = kombu_redis.Channel
    if getattr(channel, "_modelgate_guarded", False):
        return
    original = channel._connparams

    def _connparams(self, asynchronous=False):
        if self.connection.client is None:
            raise RedisConnectionError(
                "the broker connection is closed; not reconnecting to close it"
            )
        return original(self, asynchronous=asynchronous)

    channel._connparams = _connparams
    channel._modelgate_guarded = True
    channel._modelgate_unguarded = original  # for the test of the guard
