from django.core.management.base import BaseCommand, CommandError

from governance.services.audit import audit_verify, audit_verify_lines


class Command(BaseCommand):
    help = (
        "Verify the audit ledger's hash chain; name the first bad event and exit "
        "non-zero when the chain is broken. With --file, verify a JSONL export."
    )

    def add_arguments(self, parser):
        parser.add_argument("--file", help="verify this audit_export file instead")

    def handle(self, *args, **options):
        if options.get("file"):
            with open(options["file"], encoding="utf-8") as handle:
                result = audit_verify_lines(iter(handle))
        else:
            result = audit_verify()
        if not result.ok:
            raise CommandError(result.describe())
        self.stdout.write(self.style.SUCCESS(result.describe()))
