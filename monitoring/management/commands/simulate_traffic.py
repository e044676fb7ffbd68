from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from core.exceptions import ApplicationError
from monitoring.calculations.windows import windows_between
from monitoring.models import Monitor
from monitoring.services.monitors import (
    feature_kinds,
    monitor_target,
    reference_sample_load,
)
from monitoring.services.reports import report_execute, report_get_or_create
from monitoring.services.rollups import rollups_update_predictions
from monitoring.services.simulate import SCENARIOS, traffic_simulate


class Command(BaseCommand):
    help = (
        "Write realistic demo predictions (and labels) for a monitored model over "
        "the past hours, optionally drifting, then fold them into the rollups and "
        "compute the reports of the past windows."
    )

    def add_arguments(self, parser):
        parser.add_argument("--model", default="sms-spam")
        parser.add_argument("--hours", type=int, default=24)
        parser.add_argument("--per-hour", type=int, default=600)
        parser.add_argument(
            "--drift-hours",
            type=int,
            default=0,
            help="the last N hours drift (0: no drift)",
        )
        parser.add_argument("--drift-strength", type=float, default=0.8)
        parser.add_argument(
            "--scenario",
            choices=SCENARIOS,
            default="shift",
            help="shift: spam words appended, labels flipped at random; "
            "new-spam: a share of the messages replaced by a spam campaign "
            "the model never saw, labelled spam (the retraining demo)",
        )
        parser.add_argument("--labels", type=float, default=0.4, help="labelled share")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--no-reports", action="store_true", help="skip computing the reports"
        )

    def handle(self, *args, **options):
        monitor = Monitor.objects.filter(model_name=options["model"]).first()
        if monitor is None:
            raise CommandError(
                f"no monitor for {options['model']}: run `manage.py seed_monitors`"
            )
        try:
            target = monitor_target(monitor=monitor)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        reference = reference_sample_load(target=target)
        kinds = feature_kinds(target=target, reference=reference)
        now = timezone.now()
        end = now.replace(minute=0, second=0, microsecond=0)
        start = end - timedelta(hours=options["hours"])
        drift_from = (
            end - timedelta(hours=options["drift_hours"])
            if options["drift_hours"]
            else None
        )
        try:
            rows = self._simulate(target, kinds, start, end, drift_from, options)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"wrote {rows} predictions of {target.model_name} v{target.version}"
        )
        rollups_update_predictions(now=now + timedelta(minutes=5))
        self.stdout.write("rollups updated")
        if options["no_reports"]:
            return
        windows = windows_between(start, end, monitor.window_minutes)
        for i, (w_start, w_end) in enumerate(windows, 1):
            report, _ = report_get_or_create(monitor=monitor, start=w_start, end=w_end)
            outcome = report_execute(report_id=report.pk)
            self.stdout.write(
                f"[{i}/{len(windows)}] report {report.pk} {w_start:%m-%d %H:%M}: "
                f"{outcome.status}"
            )

    @staticmethod
    def _simulate(target, kinds, start, end, drift_from, options) -> int:
        return traffic_simulate(
            target=target,
            kinds=kinds,
            start=start,
            end=end,
            per_hour=options["per_hour"],
            drift_from=drift_from,
            drift_strength=options["drift_strength"],
            label_share=options["labels"],
            seed=options["seed"],
            scenario=options["scenario"],
        )
