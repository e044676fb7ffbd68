from django.apps import AppConfig


class FaultsConfig(AppConfig):
    """Applies the code patch of the fault named by MODELGATE_FAULT."""

    name = "tests.reliability.faults"
    label = "reliability_faults"

    def ready(self) -> None:
        from tests.reliability.faults import apply_patch

        apply_patch()
