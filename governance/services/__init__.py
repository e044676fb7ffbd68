"""Writes of the governance app, one module per topic.

The names other apps use are re-exported here: ``registered_model_sync``,
``model_version_register``, ``model_version_mirror`` (trainer) and
``promotion_checks_schedule`` (monitoring).
"""

from governance.services.checks import promotion_checks_schedule
from governance.services.mirror import (
    model_version_mirror,
    model_version_register,
    registered_model_sync,
    registry_sync_all,
)

__all__ = [
    "model_version_mirror",
    "model_version_register",
    "promotion_checks_schedule",
    "registered_model_sync",
    "registry_sync_all",
]
