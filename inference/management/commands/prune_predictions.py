from django.conf import settings
from django.core.management.base import BaseCommand

from inference.services.retention import prediction_log_prune


class Command(BaseCommand):
    help = (
        "Delete prediction-log rows older than N days (INFERENCE_RETENTION_DAYS) in "
        "batches; --archive writes them to gzipped JSON lines first."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None)
        parser.add_argument("--archive", action="store_true")
        parser.add_argument("--batch-size", type=int, default=5000)

    def handle(self, *args, days, archive, batch_size, **options):
        config = settings.INFERENCE
        days = days or config["RETENTION_DAYS"]
        removed = prediction_log_prune(
            older_than_days=days,
            archive_dir=config["RETENTION_ARCHIVE_DIR"] if archive else None,
            batch_size=batch_size,
            progress=lambda n: self.stdout.write(f"  {n} rows removed"),
        )
        self.stdout.write(f"removed {removed} predictions older than {days} days")
