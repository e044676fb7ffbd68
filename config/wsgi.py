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
application = body_limit(
    application,
    max(
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
        settings.INFERENCE["BATCH_MAX_UPLOAD_BYTES"],
    )
    + 64 * 1024,
)
