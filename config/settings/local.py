"""Settings for `make run` on a developer's machine: embedded defaults.

DEBUG is off, as in production: error pages are the site's own, without the
URL list or tracebacks a debug page shows to anyone. Developing, set
``DJANGO_DEBUG=true`` (``DJANGO_DEBUG=true make run``) for Django's debug pages
and static files served straight from the source folders.
"""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"]
)
