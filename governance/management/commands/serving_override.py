"""Grant or revoke the audited serving override of one version."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from core.exceptions import ApplicationError
from governance.services.serving import serving_override_set


class Command(BaseCommand):
    help = (
        "Let a version whose model tests failed, or that carries no test status, "
        "be served anyway (or, with --revoke, stop that). Every grant and "
        "revocation is an audit event with who and why; the serving processes "
        "honour it within a few seconds."
    )

    def add_arguments(self, parser):
        parser.add_argument("model", help="registered model name")
        parser.add_argument("version", type=int, help="model version")
        parser.add_argument("--reason", required=True, help="why (kept in the ledger)")
        parser.add_argument(
            "--by", required=True, help="username of the person granting it"
        )
        parser.add_argument("--revoke", action="store_true", help="withdraw it")

    def handle(self, *args, **options):
        user = get_user_model().objects.filter(username=options["by"]).first()
        if user is None:
            raise CommandError(f"no user {options['by']!r}")
        try:
            event = serving_override_set(
                model_name=options["model"],
                version=options["version"],
                actor=user,
                reason=options["reason"],
                grant=not options["revoke"],
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"serving override of {options['model']} v{options['version']} "
                f"{'revoked' if options['revoke'] else 'granted'} "
                f"(audit event #{event.sequence})"
            )
        )
