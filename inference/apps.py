from django.apps import AppConfig


class InferenceConfig(AppConfig):
    name = "inference"
    verbose_name = "Inference"

    def ready(self) -> None:
        from core.labelled import labelled_reader_install
        from inference.selectors import LabelledLogReader

        labelled_reader_install(LabelledLogReader())
