from django.apps import AppConfig


class TrainerConfig(AppConfig):
    name = "trainer"
    verbose_name = "Trainer"

    def ready(self) -> None:
        from core.pages import model_section_register
        from core.signals import alert_opened
        from trainer.pages import retraining_section
        from trainer.receivers import on_alert_opened

        alert_opened.connect(on_alert_opened, dispatch_uid="trainer.on_alert_opened")
        model_section_register("retraining", retraining_section)
