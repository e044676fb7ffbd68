"""Settings for the test suite.

The database comes from DATABASE_URL like everywhere else (CI points it at
PostgreSQL); TEST_DATABASE_NAME lets two checkouts test side by side on one server.
"""

import tempfile
from pathlib import Path

from .base import *  # noqa: F403
from .base import DATABASES, INFERENCE, MODELGATE, MONITORING, REST_FRAMEWORK, env

DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # noqa: S303
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)

_TMP = Path(tempfile.mkdtemp(prefix="modelgate-test-"))
MEDIA_ROOT = _TMP / "media"
STATIC_ROOT = _TMP / "static"
STATIC_ROOT.mkdir()
MODELGATE["MODEL_CACHE_DIR"] = _TMP / "model-cache"
# counters of this session only (the test Redis may be shared)
MODELGATE["RATE_LIMIT_PREFIX"] = f"mg-test:rate:{_TMP.name}"

if env.str("TEST_DATABASE_NAME", default=""):
    DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME")}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # a file, not Django's shared-cache in-memory database: tests with a real
    # worker thread then get WAL and the busy timeout, as `make run` does,
    # instead of "database table is locked"
    DATABASES["default"]["TEST"] = {"NAME": str(_TMP / "test.sqlite3")}

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "modelgate-test",
    }
}
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    **REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
    "anon": "100000/hour",
}
# shared files in the session's media folder (tests of the other backends
# override STORAGES)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Each test session gets its own MLflow store (SQLite + artifacts in a temp dir).
MLFLOW_DIR = _TMP / "mlflow"
MLFLOW_TRACKING_URI = f"sqlite:///{MLFLOW_DIR / 'mlflow.db'}"
MLFLOW_REGISTRY_URI = MLFLOW_TRACKING_URI
MLFLOW_ARTIFACT_ROOT = (MLFLOW_DIR / "artifacts").as_uri()

# monitoring: reference samples cached per test session
MONITORING["REFERENCE_CACHE_DIR"] = _TMP / "reference-cache"
# ----------------------------------------------------------------- inference
INFERENCE["WARM_MODELS"] = []
# downloads in the test process, where tests count and break them; the helper
# process has tests of its own (tests/inference/test_fetch_process.py)
INFERENCE["FETCH_IN_PROCESS"] = False
INFERENCE["BATCH_ALLOWED_DIRS"] = [_TMP / "batch-input"]
INFERENCE["RETENTION_ARCHIVE_DIR"] = _TMP / "log-archive"
INFERENCE["ALIAS_POLL_SECONDS"] = 0  # tests call refresh_aliases() themselves
