import json

from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from config.schedules import SCHEDULES


class Command(BaseCommand):
    help = "Create or update the periodic tasks listed in config/schedules.py."

    @transaction.atomic
    def handle(self, *args, **options):
        for item in SCHEDULES:
            defaults = {
                "task": item.task,
                "kwargs": json.dumps(item.kwargs),
                "description": item.description,
                "interval": None,
                "crontab": None,
            }
            if item.every_seconds:
                defaults["interval"], _ = IntervalSchedule.objects.get_or_create(
                    every=item.every_seconds, period=IntervalSchedule.SECONDS
                )
                when = f"every {item.every_seconds}s"
            else:
                minute, hour, dom, month, dow = item.crontab.split()
                defaults["crontab"], _ = CrontabSchedule.objects.get_or_create(
                    minute=minute,
                    hour=hour,
                    day_of_month=dom,
                    month_of_year=month,
                    day_of_week=dow,
                )
                when = f"cron {item.crontab}"
            _, created = PeriodicTask.objects.update_or_create(
                name=item.name, defaults=defaults
            )
            verb = "created" if created else "updated"
            self.stdout.write(f"{verb}: {item.name} ({item.task}, {when})")
