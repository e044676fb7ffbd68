import sys

from django.core.management.base import BaseCommand
from django.utils.dateparse import parse_datetime

from governance.services.audit import audit_export


class Command(BaseCommand):
    help = (
        "Write the audit ledger as JSON lines, oldest first: every hashed field "
        "plus prev_hash and hash, so the file can be verified on its own "
        "(audit_verify --file)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--output", "-o", help="file to write (default: stdout)")
        parser.add_argument("--since", help="only events at or after this ISO time")
        parser.add_argument("--model", help="only events of this registered model")

    def handle(self, *args, **options):
        since = parse_datetime(options["since"]) if options.get("since") else None
        if options.get("output"):
            with open(options["output"], "w", encoding="utf-8") as out:
                count = audit_export(out=out, since=since, model_name=options["model"])
            self.stderr.write(f"{count} events written to {options['output']}")
        else:
            count = audit_export(
                out=sys.stdout, since=since, model_name=options["model"]
            )
            self.stderr.write(f"{count} events written")
