"""Production settings: secrets from the environment, hardened HTTP, JSON logs."""

from pathlib import Path

from .base import *  # noqa: F403
from .base import LOGGING, STATIC_ROOT, env

DEBUG = False
SECRET_KEY = env.str("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")

# HTTPS is terminated by the proxy in front of gunicorn.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# Calls over the private network, in plain HTTP: the orchestrator's probes,
# the scraper, and MLflow's webhook deliveries (HMAC-signed and time-stamped;
# redirected, they would never arrive).
SECURE_REDIRECT_EXEMPT = [r"^health/", r"^metrics$", r"^api/governance/webhooks/"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool(
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True
)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# Static files belong to the release, not to the data folder: the image
# collects them at build (DJANGO_STATIC_ROOT=/app/staticfiles), so an upgraded
# image serves its own files and manifest, never a volume's older copy.
STATIC_ROOT = Path(env.str("DJANGO_STATIC_ROOT", default=str(STATIC_ROOT)))

for _handler in LOGGING["handlers"].values():
    _handler["formatter"] = env.str("MODELGATE_LOG_FORMAT", default="json")
