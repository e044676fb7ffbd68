import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from trainer.config import ConfigError, load_config
from trainer.data import DataError
from trainer.services import model_is_registered, training_run, training_stage_run
from trainer.stages import STAGES


class Command(BaseCommand):
    help = (
        "Train, evaluate, test and register a model from a params file "
        "(exit 1 when a model test fails: the version is registered but tagged failed)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--config", default="params.yaml", help="params file")
        parser.add_argument(
            "--set",
            dest="overrides",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a key, e.g. --set split.test_size=0.3 (repeatable)",
        )
        parser.add_argument(
            "--stage",
            choices=STAGES,
            help="run one stage only (as dvc.yaml does), using --workdir",
        )
        parser.add_argument(
            "--workdir",
            default="var/pipeline",
            help="folder for stage outputs when --stage is given",
        )
        parser.add_argument(
            "--if-absent",
            action="store_true",
            help="do nothing if the registered model already has a version",
        )

    def handle(self, *args, **options):
        started = time.perf_counter()

        def progress(message: str) -> None:
            self.stdout.write(f"{time.perf_counter() - started:6.1f}s  {message}")
            self.stdout.flush()

        try:
            config = load_config(options["config"], options["overrides"])
            name = config.mlflow.registered_model
            if options["if_absent"] and model_is_registered(name=name):
                progress(f"{name} is already registered; nothing to do")
                return
            if options["stage"]:
                result = training_stage_run(
                    config=config,
                    stage=options["stage"],
                    workdir=Path(options["workdir"]),
                    progress=progress,
                )
            else:
                result = training_run(config=config, progress=progress)
        except (ConfigError, DataError) as exc:
            raise CommandError(str(exc)) from None
        if result is not None and not result.tests_passed:
            self.stderr.write(
                self.style.ERROR(
                    f"model tests failed: {result.name} v{result.version} is "
                    "registered "
                    "but tagged failed; governance will not promote it"
                )
            )
            sys.exit(1)
