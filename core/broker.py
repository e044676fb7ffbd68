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
