from django.core.management.base import BaseCommand

from governance.services.notifications import model_url, request_url
from trainer.selectors import retraining_run_list


class Command(BaseCommand):
    help = (
        "List a model's latest retraining runs: trigger, status, duration, the "
        "version registered and the promotion request it opened (with links)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--model", default="sms-spam")
        parser.add_argument("--limit", type=int, default=5)

    def handle(self, *args, **options):
        name = options["model"]
        runs = list(retraining_run_list(model_name=name)[: options["limit"]])
        if not runs:
            self.stdout.write(f"{name}: no retraining runs yet")
            return
        for run in runs:
            self.stdout.write(self._line(run))
            if run.error:
                self.stdout.write(f"    {run.error.splitlines()[0]}")
            request = run.promotion_request
            if request is not None:
                self.stdout.write(
                    f"    {request.target} request #{request.pk}: {request.status}, "
                    f"checks {request.checks_status}: {request_url(request.pk)}"
                )
        self.stdout.write(f"model page: {model_url(name)}#retraining")

    @staticmethod
    def _line(run) -> str:
        took = ""
        if run.started_at and run.finished_at:
            took = f" in {(run.finished_at - run.started_at).total_seconds():.0f}s"
        version = f" → v{run.model_version}" if run.model_version else ""
        tests = ""
        if run.tests_passed is not None:
            tests = " (tests passed)" if run.tests_passed else " (tests failed)"
        return (
            f"run #{run.pk} {run.model_name} by {run.get_trigger_display().lower()} "
            f"({run.trigger_key}): {run.status}{took}{version}{tests}"
        )
