from django.core.management.base import BaseCommand

from governance.services.audit import audit_anchor_write


class Command(BaseCommand):
    help = (
        "Append the audit chain head (sequence, hash, time) to the anchor file "
        "outside the database (MODELGATE_AUDIT_ANCHOR_PATH or --path); "
        "`audit_verify --anchor FILE` checks the ledger against it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--path", help="anchor file (default: the setting)")

    def handle(self, *args, **options):
        anchor = audit_anchor_write(path=options.get("path"))
        self.stdout.write(
            self.style.SUCCESS(
                f"anchored #{anchor['sequence']} {anchor['hash'][:16]}… at "
                f"{anchor['at']}"
            )
        )
