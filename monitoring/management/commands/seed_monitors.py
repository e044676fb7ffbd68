from django.core.management.base import BaseCommand
from django.db import transaction

from governance.selectors import registered_model_list
from monitoring.models import Monitor
from monitoring.services.alerts import monitor_default_rules
from monitoring.services.monitors import monitor_schedules_sync_all


class Command(BaseCommand):
    help = (
        "Create a demo monitor (with default alert rules) for every registered "
        "model that has none, and sync every monitor's beat schedule."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--recipients", default="ops@example.com", help="digest recipients"
        )
        parser.add_argument(
            "--model",
            action="append",
            default=[],
            help="also create a monitor for this model name (even if it is not "
            "registered yet); repeatable",
        )

    @transaction.atomic
    def handle(self, *args, **options):
        names = [m.name for m in registered_model_list()] + options["model"]
        for name in dict.fromkeys(names):
            if Monitor.objects.filter(model_name=name).exists():
                continue
            monitor = Monitor.objects.create(
                name=f"{name} (demo)",
                model_name=name,
                recipients=options["recipients"],
            )
            monitor_default_rules(monitor=monitor)
            self.stdout.write(f"created monitor {monitor.name}")
        count = monitor_schedules_sync_all()
        self.stdout.write(f"{count} monitor schedules in sync")
