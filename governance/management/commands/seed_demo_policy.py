from django.core.management.base import BaseCommand

from governance.services.policies import policy_demo_ensure


class Command(BaseCommand):
    help = (
        "Demo only (make run): make a production policy with a minimum time in "
        "staging of a few minutes the active one, so the README's walkthrough "
        "reaches production without editing policies. Written once and audited; "
        "the production default (1,440 minutes) stays strict elsewhere."
    )

    def add_arguments(self, parser):
        parser.add_argument("--minutes", type=int, default=2)

    def handle(self, *args, **options):
        policy = policy_demo_ensure(min_staging_minutes=options["minutes"])
        if policy is None:
            self.stdout.write("demo production policy written before: unchanged")
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"production policy v{policy.version} (demo): "
                    f"{policy.min_staging_minutes} minutes in staging"
                )
            )
