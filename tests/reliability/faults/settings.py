"""Production settings with one fault switched on (``MODELGATE_FAULT``);
used only by ``python -m tests.reliability.run --faults``."""

from config.settings.production import *  # noqa: F403
from config.settings.production import INSTALLED_APPS
from tests.reliability.faults import apply_settings

INSTALLED_APPS = [*INSTALLED_APPS, "tests.reliability.faults.apps.FaultsConfig"]
apply_settings(globals())
