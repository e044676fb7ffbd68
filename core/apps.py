from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Modelgate core"

    def ready(self) -> None:
        from core.broker import ensure_broker_dirs

        ensure_broker_dirs()
