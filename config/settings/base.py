"""Settings shared by every environment.

Every value comes from an environment variable with a safe default (see
`.env.example`). The embedded defaults need no external server: SQLite in WAL
mode, a local MLflow store and a filesystem Celery broker, all under
``MODELGATE_DATA_DIR``.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(str(BASE_DIR / ".env"))

DATA_DIR = Path(env.str("MODELGATE_DATA_DIR", default=str(BASE_DIR / "var"))).resolve()

# ---------------------------------------------------------------- core Django
SECRET_KEY = env.str(
    "DJANGO_SECRET_KEY",
    default="insecure-local-key-change-me-0f8e2a6c1d9b4e7a8c3f5d2b1a0e9c8d",
)
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("MODELGATE_SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "core.apps.AdminConfig",  # django.contrib.admin, login throttled
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "core",
    "governance",
    "inference",
    "monitoring",
    "trainer",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # before CsrfViewMiddleware, whose process_view reads form bodies
    "core.limits.BodyLimitMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.navigation.navigation",
            ],
        },
    },
]


# ------------------------------------------------------------------- database
def _database(url: str) -> dict:
    """The default database from DATABASE_URL; unset or empty: SQLite under
    the data folder."""
    url = url.strip() or f"sqlite:///{DATA_DIR / 'db.sqlite3'}"
    config = environ.Env.db_url_config(url)
    if not config.get("ENGINE"):
        raise ImproperlyConfigured(
            f"DATABASE_URL {url.split('://')[0]!r}:// is not a database URL "
            "(use postgres://user:password@host:5432/name or sqlite:///path)"
        )
    return config


DATABASES = {"default": _database(env.str("DATABASE_URL", default=""))}


def _tune_database(db: dict) -> dict:
    """Apply the settings each engine needs under concurrent writers.

    SQLite: WAL journal, ``synchronous=NORMAL``, IMMEDIATE transactions (writers
    queue on the busy timeout instead of failing with "database is locked") and
    persistent connections. PostgreSQL: persistent connections with health
    checks so a restarted server does not break the next request.
    """
    if db["ENGINE"] == "django.db.backends.sqlite3":
        db.setdefault("OPTIONS", {})
        db["OPTIONS"].update(
            {
                "timeout": env.int("SQLITE_BUSY_TIMEOUT_SECONDS", default=20),
                "transaction_mode": "IMMEDIATE",
                "init_command": (
                    "PRAGMA journal_mode=WAL;"
                    "PRAGMA synchronous=NORMAL;"
                    "PRAGMA foreign_keys=ON;"
                    "PRAGMA busy_timeout=20000;"
                ),
            }
        )
        db["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=600)
    elif db["ENGINE"].startswith("django.db.backends.postgresql"):
        db["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
        db["CONN_HEALTH_CHECKS"] = env.bool("DB_CONN_HEALTH_CHECKS", default=True)
        db.setdefault("OPTIONS", {}).setdefault(
            "connect_timeout", env.int("DB_CONNECT_TIMEOUT_SECONDS", default=5)
        )
    return db


DATABASES["default"] = _tune_database(DATABASES["default"])
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ---------------------------------------------------------------------- auth
_VALIDATORS = "django.contrib.auth.password_validation"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"{_VALIDATORS}.UserAttributeSimilarityValidator"},
    {"NAME": f"{_VALIDATORS}.MinimumLengthValidator"},
    {"NAME": f"{_VALIDATORS}.CommonPasswordValidator"},
    {"NAME": f"{_VALIDATORS}.NumericPasswordValidator"},
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# ------------------------------------------------------------ i18n and files
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("DJANGO_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Static files carry a hash of their content in their names and are stored
# gzipped beside the original (`collectstatic`, run by `make setup`): whitenoise
# then serves them compressed with a one-year, immutable Cache-Control, in
# every setting. A page refers to a file through {% static %}, which adds the hash.
MEDIA_ROOT = Path(env.str("MODELGATE_MEDIA_DIR", default=str(DATA_DIR / "media")))
MEDIA_URL = "/media/"

# Request size caps: a predict body beyond this is refused before parsing.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DJANGO_MAX_BODY_BYTES", default=2 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2000


def default_storage_config(env: environ.Env) -> dict:
    """The "default" storage: where the files that every host reads live
    (batch uploads and results, the reports' HTML), always addressed by name.

    ``MODELGATE_STORAGE=filesystem`` (the default): the media folder, enough
    for one host or for hosts that mount one shared volume there.
    ``MODELGATE_STORAGE=s3``: a bucket of S3 or of an S3-compatible store
    (MinIO, Ceph...) through django-storages. Its credentials are read by
    django-storages itself: AWS_S3_ACCESS_KEY_ID / AWS_S3_SECRET_ACCESS_KEY,
    else AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, else boto3's chain (an
    instance or pod role).
    """
    kind = env.str("MODELGATE_STORAGE", default="filesystem").strip().lower()
    if kind == "filesystem":
        return {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    if kind != "s3":
        raise ImproperlyConfigured(
            f"MODELGATE_STORAGE={kind!r}: use filesystem or s3 (another "
            'backend: set STORAGES["default"] in a settings module of your own)'
        )
    bucket = env.str("MODELGATE_STORAGE_BUCKET", default="").strip()
    if not bucket:
        raise ImproperlyConfigured(
            "MODELGATE_STORAGE=s3 needs MODELGATE_STORAGE_BUCKET"
        )
    options = {
        "bucket_name": bucket,
        "location": env.str("MODELGATE_STORAGE_PREFIX", default="").strip("/"),
        "endpoint_url": env.str("MODELGATE_STORAGE_ENDPOINT_URL", default=""),
        "region_name": env.str("MODELGATE_STORAGE_REGION", default=""),
        # "path" for most S3-compatible servers (MinIO); blank: boto3's choice
        "addressing_style": env.str("MODELGATE_STORAGE_ADDRESSING_STYLE", default=""),
        # names are chosen by Modelgate (one per job or report): a rewrite
        # replaces the object
        "file_overwrite": True,
        # an object read (a results download, a batch input) is spooled to a
        # temporary file beyond this, not held in memory
        "max_memory_size": FILE_UPLOAD_MAX_MEMORY_SIZE,
    }
    # No ACL is sent: objects get the bucket's own (private) policy, and the
    # files reach users only through Modelgate's permission-checked views.
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {k: v for k, v in options.items() if v != ""},
    }


STORAGES = {
    "default": default_storage_config(env),
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# ------------------------------------------------------------------- e-mail
# unset or empty: each message as a file under the data folder
EMAIL_CONFIG = environ.Env.email_url_config(
    env.str("EMAIL_URL", default="").strip() or f"filemail://{DATA_DIR / 'mail'}"
)
vars().update(EMAIL_CONFIG)
if (
    EMAIL_CONFIG.get("EMAIL_BACKEND")
    == "django.core.mail.backends.filebased.EmailBackend"
):
    EMAIL_FILE_PATH = str(DATA_DIR / "mail")
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="modelgate@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_TIMEOUT = 10

# ----------------------------------------------------------------------- DRF
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.authentication.CachedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.CappedJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.CappedPageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "core.schema.AppTaggedSchema",
    "EXCEPTION_HANDLER": "core.exceptions.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.UserRateThrottle",
        "rest_framework.throttling.AnonRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": env.str("API_THROTTLE_USER", default="100000/hour"),
        "anon": env.str("API_THROTTLE_ANON", default="600/hour"),
        "predict": env.str("API_THROTTLE_PREDICT", default="200000/hour"),
        "feedback": env.str("API_THROTTLE_FEEDBACK", default="20000/hour"),
        "batch": env.str("API_THROTTLE_BATCH", default="600/hour"),
        "login": env.str("LOGIN_THROTTLE", default="10/minute"),
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Modelgate API",
    "DESCRIPTION": "Serve, watch and govern machine-learning models.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # one group per app in the API docs, in this order (core.schema tags
    # each operation with its view's app)
    "TAGS": [
        {
            "name": "inference",
            "description": "Predictions, feedback (labels) and batch jobs.",
        },
        {
            "name": "governance",
            "description": "Registered models, promotion requests, policies and "
            "the audit ledger.",
        },
        {"name": "monitoring", "description": "Monitors, drift reports and alerts."},
        {
            "name": "trainer",
            "description": "Retraining runs: list them, start one by hand.",
        },
    ],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        # every operation documents the error answers the API can give
        "core.schema.document_error_responses",
    ],
    # One name for a choice set used by several fields.
    "ENUM_NAME_OVERRIDES": {
        "DriftMethodEnum": "monitoring.choices.DriftMethod",
        # batch jobs and reports share one set of states
        "JobStatusEnum": "inference.choices.BatchStatus",
        "AlertStatusEnum": "monitoring.choices.AlertStatus",
        "RetrainingRunStatusEnum": "trainer.choices.RunStatus",
    },
}

# -------------------------------------------------------------------- caches
REDIS_URL = env.str("REDIS_URL", default="")
# Throttle counters and other disposable state, shared by every process: Redis
# when configured (tolerant of outages, see core/cache.py), else files.
CACHES = {
    "default": (
        {
            "BACKEND": "core.cache.TolerantRedisCache",
            "LOCATION": env.str("CACHE_REDIS_URL", default=REDIS_URL),
            "KEY_PREFIX": "mg",
        }
        if REDIS_URL
        else {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(DATA_DIR / "cache"),
            "OPTIONS": {"MAX_ENTRIES": 10000},
        }
    )
}

# -------------------------------------------------------------------- Celery
# Broker: an explicit CELERY_BROKER_URL wins, then REDIS_URL, then a
# filesystem broker under the data folder that needs no server.
CELERY_BROKER_URL = (
    env.str("CELERY_BROKER_URL", default="") or REDIS_URL or "filesystem://"
)
BROKER_DIR = DATA_DIR / "broker"
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # filesystem transport
    "data_folder_in": str(BROKER_DIR / "queue"),
    "data_folder_out": str(BROKER_DIR / "queue"),
    "processed_folder": str(BROKER_DIR / "processed"),
    "control_folder": str(BROKER_DIR / "control"),
    "store_processed": False,
    # redis transport: longer than every countdown, retry back-off and time limit
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT_SECONDS", default=3600),
    "socket_timeout": 5,
    "socket_connect_timeout": 5,
    "retry_on_timeout": True,
    "health_check_interval": 25,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 5
CELERY_BROKER_POOL_LIMIT = 10
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT_SECONDS", default=1800)
CELERY_TASK_SOFT_TIME_LIMIT = env.int(
    "CELERY_TASK_SOFT_TIME_LIMIT_SECONDS", default=1700
)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
# Queues: governance (checks, apply, reconcile), monitoring (reports,
# rollups, alerts), serving-adjacent jobs (batch scoring, log retention and
# partitions) and retraining runs each on their own queue with their own
# worker pool (core.queues); anything else on the default queue. A worker
# without -Q consumes every queue listed here.
CELERY_QUEUES_BY_APP = {
    "governance": "governance",
    "monitoring": "monitoring",
    "inference": "serving",
    "trainer": "training",
}
# Quick tasks of an app whose queue holds long jobs: the retraining tick and
# alert hook must not wait behind a run (the tick also gives up stalled runs).
CELERY_QUEUES_BY_TASK = {
    "trainer.tasks.retraining_tick": "celery",
    "trainer.tasks.retraining_alert_task": "celery",
}
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = [
    Queue(name)
    for name in (
        CELERY_TASK_DEFAULT_QUEUE,
        *dict.fromkeys(CELERY_QUEUES_BY_APP.values()),
    )
]
CELERY_TASK_ROUTES = ("core.queues.task_route",)
# Publishing must not hang a web request when the broker is down.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}

# -------------------------------------------------------------------- MLflow
MLFLOW_DIR = DATA_DIR / "mlflow"
MLFLOW_TRACKING_URI = (
    env.str("MLFLOW_TRACKING_URI", default="").strip()
    or f"sqlite:///{MLFLOW_DIR / 'mlflow.db'}"
)
MLFLOW_REGISTRY_URI = env.str("MLFLOW_REGISTRY_URI", default="") or MLFLOW_TRACKING_URI
# Where new experiments store artifacts when the tracking URI is a local store.
MLFLOW_ARTIFACT_ROOT = env.str(
    "MLFLOW_ARTIFACT_ROOT", default=(MLFLOW_DIR / "artifacts").as_uri()
)
MLFLOW_REQUEST_TIMEOUT_SECONDS = env.int("MLFLOW_REQUEST_TIMEOUT_SECONDS", default=10)
MLFLOW_REQUEST_MAX_RETRIES = env.int("MLFLOW_REQUEST_MAX_RETRIES", default=1)

# ----------------------------------------------------------------- Modelgate
MODELGATE = {
    "REQUIRE_SERVICES": env.bool("MODELGATE_REQUIRE_SERVICES", default=False),
    "STAGE_ALIASES": {
        "staging": env.str("MODELGATE_STAGING_ALIAS", default="staging"),
        "production": env.str("MODELGATE_PRODUCTION_ALIAS", default="production"),
        "previous": env.str("MODELGATE_PREVIOUS_ALIAS", default="previous"),
    },
    "MODEL_CACHE_DIR": Path(
        env.str("MODELGATE_MODEL_CACHE_DIR", default=str(DATA_DIR / "model-cache"))
    ),
    "DEFAULT_MODEL": env.str("MODELGATE_DEFAULT_MODEL", default="sms-spam"),
    # Redis key prefix of the per-client rate-limit counters (core.ratelimit)
    "RATE_LIMIT_PREFIX": env.str("MODELGATE_RATE_LIMIT_PREFIX", default="mg:rate"),
    # Governance imports no other app: the production check "no open drift
    # alert" asks this callable (dotted path), which monitoring provides:
    # fn(*, model_name: str, version: int | None) -> list[dict]
    "OPEN_ALERTS_PROVIDER": env.str(
        "MODELGATE_OPEN_ALERTS_PROVIDER",
        default="monitoring.selectors.open_alerts_for_model",
    ),
    # The metrics check scores the candidate and the champion on one evaluation
    # set with this callable (dotted path), which inference provides (the
    # serving load path): fn(*, model_name: str, version: int, rows: list[dict])
    # -> {"labels": [...], "probabilities": [{class: p}, ...] or None}
    "VERSION_PREDICTOR": env.str(
        "MODELGATE_VERSION_PREDICTOR",
        default="inference.services.evaluate.version_predict",
    ),
}

# ----------------------------------------------------------------- retraining
TRAINER = {
    # A queued run no worker took this long is published again (its publish
    # failed or the message was lost); a second delivery does nothing.
    "REQUEUE_SECONDS": env.int("TRAINER_REQUEUE_SECONDS", default=600),
    # A running run that wrote no progress line this long is given up (its
    # worker stopped: restart, crash, out of memory), recorded as an error
    # and its owners told; a result it reports later is not used.
    "STALL_SECONDS": env.int("TRAINER_STALL_SECONDS", default=3600),
}

# ----------------------------------------------------------------- governance
# Promotion workflow settings (policies themselves are admin-editable rows).
GOVERNANCE = {
    # Folder of the labelled evaluation sets a policy may name (the champion
    # comparison scores both versions on one; a policy names a file in it).
    "EVALUATION_SETS_DIR": Path(
        env.str(
            "MODELGATE_EVALUATION_SETS_DIR", default=str(DATA_DIR / "evaluation-sets")
        )
    ),
    # Production policy's minimum time in staging when the policy leaves it empty.
    "MIN_STAGING_MINUTES": env.int("MODELGATE_MIN_STAGING_MINUTES", default=1440),
    # Hours within which an emergency rollback must be confirmed by an approver
    # (when the rollback policy leaves it empty).
    "EMERGENCY_CONFIRM_HOURS": env.int("MODELGATE_EMERGENCY_CONFIRM_HOURS", default=24),
    # An alias moved in MLflow by someone else is always audited and reported to
    # ops; with this on, the reconciler also moves it back.
    "REVERT_OUT_OF_BAND": env.bool("MODELGATE_REVERT_OUT_OF_BAND", default=False),
    # Also set MLflow's deprecated stage field (Staging/Production) on apply, for
    # old clients that still read stages.
    "MIRROR_STAGES": env.bool("MODELGATE_MIRROR_STAGES", default=False),
    # Apply attempts (first try plus reconciler retries) before giving up, and
    # how long an "applying" request may stay so before the reconciler retakes it.
    "APPLY_MAX_ATTEMPTS": env.int("MODELGATE_APPLY_MAX_ATTEMPTS", default=10),
    "APPLY_LEASE_SECONDS": env.int("MODELGATE_APPLY_LEASE_SECONDS", default=300),
    # MLflow webhooks: shared secret (empty: the endpoint refuses every delivery)
    # and the largest accepted clock difference of X-MLflow-Timestamp.
    "WEBHOOK_SECRET": env.str("MLFLOW_WEBHOOK_SECRET", default=""),
    "WEBHOOK_MAX_AGE_SECONDS": env.int("MLFLOW_WEBHOOK_MAX_AGE_SECONDS", default=300),
    # Extra addresses that receive ops e-mails besides the ops group's members.
    "OPS_EMAILS": env.list("MODELGATE_OPS_EMAILS", default=[]),
    # Keys of the audit chain's HMAC, held outside the database: "id:secret"
    # pairs; new events use AUDIT_KEY_ID (default: the last pair), older keys
    # stay listed so their events still verify. Empty: one key derived from
    # SECRET_KEY (id "default").
    "AUDIT_KEYS": env.list("MODELGATE_AUDIT_KEYS", default=[]),
    "AUDIT_KEY_ID": env.str("MODELGATE_AUDIT_KEY_ID", default=""),
    # Events up to this sequence may be unkeyed (written before the chain was
    # keyed); every later one must carry a valid HMAC.
    "AUDIT_UNKEYED_UNTIL": env.int("MODELGATE_AUDIT_UNKEYED_UNTIL", default=0),
    # Where the periodic anchor of the chain head is appended (outside the
    # database: a file, or a mounted storage path).
    "AUDIT_ANCHOR_PATH": Path(
        env.str("MODELGATE_AUDIT_ANCHOR_PATH", default="").strip()
        or DATA_DIR / "audit-anchors.jsonl"
    ),
}
# Stable OpenAPI enum names for governance's choice sets.
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(
    {
        "StageEnum": "governance.choices.Stage",
        "PolicyTargetEnum": "governance.choices.PolicyTarget",
    }
)

# ---------------------------------------------------------------- monitoring
# Report jobs, rollups, alerts and the /metrics endpoint (monitoring app).
MONITORING = {
    # a report job is claimed at most this many times, then it ends failed
    "REPORT_MAX_ATTEMPTS": env.int("MONITORING_REPORT_MAX_ATTEMPTS", default=3),
    # a claim lasts this long unless the job reports progress (then renewed)
    "REPORT_LEASE_SECONDS": env.int("MONITORING_REPORT_LEASE_SECONDS", default=300),
    "REPORT_RETRY_SECONDS": env.int("MONITORING_REPORT_RETRY_SECONDS", default=30),
    # pending reports older than this are published again by the recovery task
    "REPORT_REQUEUE_SECONDS": env.int("MONITORING_REPORT_REQUEUE_SECONDS", default=120),
    # rollups consume log rows older than this (commits land out of id order)
    "ROLLUP_LAG_SECONDS": env.int("MONITORING_ROLLUP_LAG_SECONDS", default=30),
    "ROLLUP_CHUNK_ROWS": env.int("MONITORING_ROLLUP_CHUNK_ROWS", default=250_000),
    "MINUTE_ROLLUP_RETENTION_HOURS": env.int(
        "MONITORING_MINUTE_ROLLUP_RETENTION_HOURS", default=72
    ),
    # late labels: windows whose labels changed in this many days are recomputed
    "PERFORMANCE_LOOKBACK_DAYS": env.int(
        "MONITORING_PERFORMANCE_LOOKBACK_DAYS", default=30
    ),
    "REFERENCE_CACHE_DIR": Path(
        env.str(
            "MONITORING_REFERENCE_CACHE_DIR", default=str(DATA_DIR / "reference-cache")
        )
    ),
    "WEBHOOK_TIMEOUT_SECONDS": env.float(
        "MONITORING_WEBHOOK_TIMEOUT_SECONDS", default=5
    ),
    # /metrics: a scraper sends "Authorization: Bearer <token>"; ops and staff
    # users may read it in a browser session; addresses listed here need neither.
    "METRICS_TOKEN": env.str("MONITORING_METRICS_TOKEN", default=""),
    "METRICS_ALLOWED_IPS": env.list("MONITORING_METRICS_ALLOWED_IPS", default=[]),
    # A Celery worker or stream consumer in a container of its own serves its
    # process metrics on this port (same token rule); 0: off (core.metrics).
    "METRICS_PORT": env.int("MONITORING_METRICS_PORT", default=0),
}

# ----------------------------------------------------------------- inference
INFERENCE = {
    # Seconds between two checks of the served aliases (one MLflow call per
    # model and process); a promoted version is served within this time plus
    # its load time.
    "ALIAS_POLL_SECONDS": env.float("INFERENCE_ALIAS_POLL_SECONDS", default=5.0),
    # Models each web, worker and stream process loads at start ("name@alias").
    "WARM_MODELS": env.list(
        "INFERENCE_WARM_MODELS",
        default=[f"{MODELGATE['DEFAULT_MODEL']}@production"],
    ),
    # Download new versions in a helper process per serving process, off the
    # request threads' interpreter (inference/serving/fetch.py), giving up
    # after FETCH_TIMEOUT_SECONDS.
    "FETCH_IN_PROCESS": env.bool("INFERENCE_FETCH_IN_PROCESS", default=True),
    "FETCH_TIMEOUT_SECONDS": env.float(
        "INFERENCE_FETCH_TIMEOUT_SECONDS", default=300.0
    ),
    # Loaded versions per process: a version no alias of the process points
    # to is dropped once unused for EVICT_AFTER_SECONDS, and the least
    # recently used such versions go first when a load would pass
    # MAX_LOADED_VERSIONS (docs/ops.md: memory per loaded version).
    "MAX_LOADED_VERSIONS": env.int("INFERENCE_MAX_LOADED_VERSIONS", default=6),
    "EVICT_AFTER_SECONDS": env.float("INFERENCE_EVICT_AFTER_SECONDS", default=600.0),
    # Write the prediction log (off only to measure what logging costs).
    "LOG_PREDICTIONS": env.bool("INFERENCE_LOG_PREDICTIONS", default=True),
    "GROUP_COMMIT": env.bool("INFERENCE_GROUP_COMMIT", default=True),
    "MAX_ROWS": env.int("INFERENCE_MAX_ROWS", default=1000),
    "MAX_STRING_LENGTH": env.int("INFERENCE_MAX_STRING_LENGTH", default=5000),
    "MAX_FEEDBACK_ITEMS": env.int("INFERENCE_MAX_FEEDBACK_ITEMS", default=10000),
    # Groups whose members may predict, send feedback and run batch jobs
    # (superusers always may).
    "PREDICT_ROLES": env.list(
        "INFERENCE_PREDICT_ROLES", default=["api_clients", "requesters", "ops"]
    ),
    # Groups whose members may be served what production does not serve:
    # @staging, @previous and explicit versions (superusers always may);
    # everyone else gets @production. Such predictions are marked "elevated"
    # in the log (served_as).
    "SERVE_UNPROMOTED_ROLES": env.list(
        "INFERENCE_SERVE_UNPROMOTED_ROLES", default=["requesters", "ops"]
    ),
    # A version without a model-test status (tag modelgate.tests; registered
    # outside the trainer) is untested: served only when this is on, or under
    # an audited override (manage.py serving_override). A version whose tests
    # failed is never served without an override.
    "SERVE_UNTESTED": env.bool("INFERENCE_SERVE_UNTESTED", default=False),
    # Groups whose members may label the predictions of the channels without a
    # caller (stream, scheduled batch) besides their owners (superusers always
    # may).
    "LABEL_ROLES": env.list("INFERENCE_LABEL_ROLES", default=["requesters", "ops"]),
    # Usernames of the accounts that own the stream consumer's and scheduled
    # batch jobs' predictions (their feedback is matched on it); blank: the
    # predictions have no owner and only the label roles may label them.
    "STREAM_CLIENT": env.str("INFERENCE_STREAM_CLIENT", default=""),
    "SCHEDULED_BATCH_CLIENT": env.str("INFERENCE_SCHEDULED_BATCH_CLIENT", default=""),
    # Batch scoring: uploads and results live in the "default" storage
    # (under batch/); a job may also read a server-side file, but only under
    # one of BATCH_ALLOWED_DIRS, on the host whose worker runs the job.
    "BATCH_ALLOWED_DIRS": [
        Path(p)
        for p in env.list(
            "INFERENCE_BATCH_ALLOWED_DIRS", default=[str(DATA_DIR / "batch-input")]
        )
    ],
    "BATCH_CHUNK_SIZE": env.int("INFERENCE_BATCH_CHUNK_SIZE", default=500),
    # rows of any job (uploaded or a server-side file)
    "BATCH_MAX_ROWS": env.int("INFERENCE_BATCH_MAX_ROWS", default=1_000_000),
    # Deliveries of a batch job that may die or raise (worker lost, crash)
    # before it ends failed; a slice that ends cleanly starts the count again.
    "BATCH_MAX_ATTEMPTS": env.int("INFERENCE_BATCH_MAX_ATTEMPTS", default=5),
    # an upload: 413 above the size (before the body is read), 400 above the
    # rows; larger inputs are read from a server-side file
    "BATCH_MAX_UPLOAD_BYTES": env.int(
        "INFERENCE_BATCH_MAX_UPLOAD_BYTES", default=20 * 1024 * 1024
    ),
    "BATCH_MAX_UPLOAD_ROWS": env.int(
        "INFERENCE_BATCH_MAX_UPLOAD_ROWS", default=200_000
    ),
    # Hybrid serving: how long a precomputed prediction stays fresh (a filling
    # job may set its own), whether rows answered online by key are written
    # back to the store, and who may fill the store through the API (its
    # entries answer every client asking by key; superusers always may).
    "PRECOMPUTED_TTL_SECONDS": env.int(
        "INFERENCE_PRECOMPUTED_TTL_SECONDS", default=24 * 3600
    ),
    "PRECOMPUTED_WRITE_BACK": env.bool(
        "INFERENCE_PRECOMPUTED_WRITE_BACK", default=False
    ),
    "PRECOMPUTE_ROLES": env.list(
        "INFERENCE_PRECOMPUTE_ROLES", default=["requesters", "ops"]
    ),
    # Redis Streams consumer (manage.py consume_stream).
    "STREAM_INPUT": env.str("INFERENCE_STREAM_INPUT", default="modelgate:predict"),
    "STREAM_OUTPUT": env.str(
        "INFERENCE_STREAM_OUTPUT", default="modelgate:predictions"
    ),
    "STREAM_DEAD_LETTER": env.str(
        "INFERENCE_STREAM_DEAD_LETTER", default="modelgate:predict:dead"
    ),
    "STREAM_GROUP": env.str("INFERENCE_STREAM_GROUP", default="modelgate"),
    "STREAM_BATCH": env.int("INFERENCE_STREAM_BATCH", default=100),
    # A pending entry idle this long belongs to a crashed consumer: reclaim it.
    "STREAM_CLAIM_IDLE_MS": env.int("INFERENCE_STREAM_CLAIM_IDLE_MS", default=30000),
    "STREAM_MAX_DELIVERIES": env.int("INFERENCE_STREAM_MAX_DELIVERIES", default=5),
    # Trimming, every STREAM_TRIM_SECONDS (0: off): input events acknowledged
    # by every group, results and dead letters, older than the retention; the
    # results and dead letters also beyond STREAM_MAXLEN entries. A pending or
    # undelivered input event is never trimmed.
    "STREAM_RETENTION_SECONDS": env.int(
        "INFERENCE_STREAM_RETENTION_SECONDS", default=3600
    ),
    "STREAM_MAXLEN": env.int("INFERENCE_STREAM_MAXLEN", default=100_000),
    "STREAM_TRIM_SECONDS": env.float("INFERENCE_STREAM_TRIM_SECONDS", default=10.0),
    # Retention of the prediction log (manage.py prune_predictions).
    "RETENTION_DAYS": env.int("INFERENCE_RETENTION_DAYS", default=180),
    # PostgreSQL: day partitions of the prediction log created ahead by the
    # hourly task (a day the task missed lands in the default partition).
    "LOG_PARTITION_DAYS_AHEAD": env.int(
        "INFERENCE_LOG_PARTITION_DAYS_AHEAD", default=3
    ),
    # PostgreSQL: retention detaches a day from the log with an exclusive lock
    # that inserts queue behind; it waits at most this long for the lock per
    # attempt (a long monitoring read holds the log), then tries again.
    "LOG_DETACH_LOCK_TIMEOUT_MS": env.int(
        "INFERENCE_LOG_DETACH_LOCK_TIMEOUT_MS", default=100
    ),
    "LOG_DETACH_ATTEMPTS": env.int("INFERENCE_LOG_DETACH_ATTEMPTS", default=20),
    # PostgreSQL: after the detach (the day is out of the log), the day's
    # rows are counted and their feedback deleted this many log rows per
    # transaction, pausing between chunks so the serving inserts keep the CPU
    # (about 3 % of a core: a minute for a day of 1.25 million rows).
    "LOG_DROP_CHUNK_ROWS": env.int("INFERENCE_LOG_DROP_CHUNK_ROWS", default=10_000),
    "LOG_DROP_PAUSE_MS": env.int("INFERENCE_LOG_DROP_PAUSE_MS", default=500),
    "RETENTION_ARCHIVE_DIR": Path(
        env.str(
            "INFERENCE_RETENTION_ARCHIVE_DIR", default=str(DATA_DIR / "log-archive")
        )
    ),
}

# -------------------------------------------------------------------- logging
LOG_LEVEL = env.str("DJANGO_LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("MODELGATE_LOG_FORMAT", default="text")  # text | json
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {
            "format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s",
            "datefmt": "%H:%M:%S",
        },
        "json": {"()": "core.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT},
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        name: {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False}
        for name in (
            "core",
            "governance",
            "inference",
            "monitoring",
            "trainer",
            "config",
        )
    }
    | {
        "django": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        "django.request": {
            "handlers": ["console"],
            "level": "ERROR",
            "propagate": False,
        },
        "celery": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "mlflow": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        "alembic": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_AGE = env.int("DJANGO_SESSION_COOKIE_AGE", default=60 * 60 * 12)
