from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from core import registry


class Command(BaseCommand):
    help = (
        "Create or update the MLflow webhook that tells Modelgate of every new "
        "version, tag and alias (MLflow >= 3.3 with a SQL store). Uses "
        "MLFLOW_WEBHOOK_SECRET; the URL defaults to MODELGATE_SITE_URL."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", default="modelgate")
        parser.add_argument(
            "--url",
            help="URL MLflow calls (default: <MODELGATE_SITE_URL>/api/governance/"
            "webhooks/mlflow/); from docker-compose: http://web:8000/...",
        )

    def handle(self, *args, **options):
        secret = settings.GOVERNANCE["WEBHOOK_SECRET"]
        if not secret:
            raise CommandError("set MLFLOW_WEBHOOK_SECRET first (the shared secret)")
        url = options["url"] or (
            settings.SITE_URL.rstrip("/") + reverse("governance:api-mlflow-webhook")
        )
        try:
            webhook_id, created = registry.webhook_ensure(
                name=options["name"], url=url, secret=secret
            )
        except registry.RegistryError as exc:
            raise CommandError(str(exc)) from exc
        verb = "created" if created else "updated"
        self.stdout.write(self.style.SUCCESS(f"webhook {webhook_id} {verb}: {url}"))
