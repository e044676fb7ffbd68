"""Settings of a Celery worker subprocess started by the reliability tests:
the test settings, pointed at the test database, MLflow store, broker and
SMTP sink of the test process that started it (all passed by environment)."""

import os

from config.settings.test import *  # noqa: F403
from config.settings.test import MONITORING

CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_DEFAULT_QUEUE = os.environ["MG_WORKER_QUEUE"]
MLFLOW_TRACKING_URI = os.environ["MG_WORKER_MLFLOW_URI"]
MLFLOW_REGISTRY_URI = MLFLOW_TRACKING_URI
MONITORING["REFERENCE_CACHE_DIR"] = os.environ["MG_WORKER_REFERENCE_CACHE"]
MONITORING["REPORT_LEASE_SECONDS"] = int(os.environ.get("MG_WORKER_LEASE", "4"))
MONITORING["REPORT_RETRY_SECONDS"] = 1
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = "127.0.0.1"
EMAIL_PORT = int(os.environ["MG_WORKER_SMTP_PORT"])
EMAIL_USE_TLS = False
MEDIA_ROOT = os.environ["MG_WORKER_MEDIA_ROOT"]
