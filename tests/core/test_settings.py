"""Environment variables switch every part; the defaults need no server."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, django
from django.conf import settings
django.setup()
db = settings.DATABASES["default"]
print(json.dumps({
    "engine": db["ENGINE"], "name": str(db["NAME"]), "options": db.get("OPTIONS", {}),
    "broker": settings.CELERY_BROKER_URL, "mlflow": settings.MLFLOW_TRACKING_URI,
    "email": settings.EMAIL_BACKEND, "health": db.get("CONN_HEALTH_CHECKS", False),
    "debug": settings.DEBUG,
    "static": settings.STORAGES["staticfiles"]["BACKEND"],
}))
"""


def settings_with(tmp_path, **env) -> dict:
    base = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "MODELGATE_DATA_DIR": str(tmp_path),
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_embedded_defaults_need_no_server(tmp_path):
    s = settings_with(tmp_path)
    assert s["engine"] == "django.db.backends.sqlite3"
    assert s["name"] == str(tmp_path / "db.sqlite3")
    assert s["options"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in s["options"]["init_command"]
    assert s["options"]["timeout"] >= 5
    assert s["broker"] == "filesystem://"
    assert s["mlflow"] == f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    assert s["email"] == "django.core.mail.backends.filebased.EmailBackend"


def test_make_run_is_not_in_debug_unless_asked(tmp_path):
    # a debug 404 lists every URL pattern to anyone who mistypes an address
    assert settings_with(tmp_path)["debug"] is False
    assert settings_with(tmp_path, DJANGO_DEBUG="true")["debug"] is True


def test_static_files_are_hashed_and_compressed_in_every_serving_setting(tmp_path):
    manifest = "whitenoise.storage.CompressedManifestStaticFilesStorage"
    assert settings_with(tmp_path)["static"] == manifest
    production = settings_with(
        tmp_path,
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY="x" * 50,
        DJANGO_ALLOWED_HOSTS="example.com",
    )
    assert production["static"] == manifest


def test_environment_switches_to_real_services(tmp_path):
    s = settings_with(
        tmp_path,
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/test",
        REDIS_URL="redis://127.0.0.1:6379/0",
        MLFLOW_TRACKING_URI="http://127.0.0.1:5000",
        EMAIL_URL="smtp://127.0.0.1:1025",
    )
    assert s["engine"] == "django.db.backends.postgresql"
    assert s["health"] is True
    assert s["broker"] == "redis://127.0.0.1:6379/0"
    assert s["mlflow"] == "http://127.0.0.1:5000"
    assert s["email"] == "django.core.mail.backends.smtp.EmailBackend"


def test_explicit_broker_url_wins_over_redis_url(tmp_path):
    s = settings_with(
        tmp_path,
        REDIS_URL="redis://127.0.0.1:6379/0",
        CELERY_BROKER_URL="redis://h:1/2",
    )
    assert s["broker"] == "redis://h:1/2"


def test_empty_variables_mean_the_embedded_defaults(tmp_path):
    # `DATABASE_URL= make run` (an unset-looking empty value) must not crash
    s = settings_with(
        tmp_path,
        DATABASE_URL="",
        REDIS_URL="",
        MLFLOW_TRACKING_URI="",
        CELERY_BROKER_URL="",
        EMAIL_URL="  ",
    )
    assert s == settings_with(tmp_path)
