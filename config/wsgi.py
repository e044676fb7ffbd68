"""WSGI entry point (gunicorn config.wsgi).

The Django application sits behind a hard body cap (core.wsgi_limits): the
largest body any route accepts (a batch CSV upload) plus room for the
multipart envelope.
"""

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from core.wsgi_limits import body_limit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

application = get_wsgi_application()

from inference.services.batch import upload_body_cap  # noqa: E402 (needs apps)

application = body_limit(
    application,
    max(settings.DATA_UPLOAD_MAX_MEMORY_SIZE, upload_body_cap()),
)
