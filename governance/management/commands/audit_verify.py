from django.core.management.base import BaseCommand, CommandError

from governance.services.audit import (
    audit_anchor_last,
    audit_verify,
    audit_verify_lines,
)


class Command(BaseCommand):
    help = (
        "Verify the audit ledger's keyed hash chain; name the first bad event and "
        "exit non-zero when the chain is broken. With --file, verify a JSONL "
        "export; with --anchor, also check the ledger against the last chain head "
        "recorded outside the database (audit_anchor, MODELGATE_AUDIT_ANCHOR_PATH)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--file", help="verify this audit_export file instead")
        parser.add_argument(
            "--anchor", help="anchor file (JSON lines) whose last head must match"
        )

    def handle(self, *args, **options):
        anchor = None
        if options.get("anchor"):
            try:
                anchor = audit_anchor_last(options["anchor"])
            except (OSError, ValueError) as exc:
                raise CommandError(f"cannot read anchor file: {exc}") from exc
            if anchor is None:
                raise CommandError(f"{options['anchor']} holds no anchor")
        if options.get("file"):
            with open(options["file"], encoding="utf-8") as handle:
                result = audit_verify_lines(iter(handle))
        else:
            result = audit_verify(anchor=anchor) if anchor else audit_verify()
        if not result.ok:
            raise CommandError(result.describe())
        suffix = f"; matches the anchor at #{anchor['sequence']}" if anchor else ""
        self.stdout.write(self.style.SUCCESS(result.describe() + suffix))
