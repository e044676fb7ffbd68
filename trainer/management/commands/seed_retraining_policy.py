from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from trainer.choices import ALERT_KINDS, RetrainingAction
from trainer.models import RetrainingPolicy
from trainer.retraining import retraining_policy_save


class Command(BaseCommand):
    help = (
        "Create or update a model's retraining policy (audited like an admin "
        "edit): drift alerts retrain on the original data plus recent labels "
        "and open a staging request in the requester's name."
    )

    def add_arguments(self, parser):
        parser.add_argument("--model", default="sms-spam")
        parser.add_argument("--requester", default="alice", help="a requester")
        parser.add_argument(
            "--alert-kind",
            dest="alert_kinds",
            action="append",
            choices=sorted(ALERT_KINDS),
            help="alert rule kind that triggers (repeatable; "
            "default: drift_share_above)",
        )
        parser.add_argument("--production-days", type=int, default=2)
        parser.add_argument("--min-gap-minutes", type=int, default=60)
        parser.add_argument(
            "--register-only",
            action="store_true",
            help="register the version without opening a staging request",
        )
        parser.add_argument(
            "--set",
            dest="overrides",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override of the params file (repeatable)",
        )

    def handle(self, *args, **options):
        requester = (
            get_user_model()
            .objects.filter(username=options["requester"], is_active=True)
            .first()
        )
        if requester is None:
            raise CommandError(f"no active user {options['requester']!r}")
        policy = RetrainingPolicy.objects.filter(model_name=options["model"]).first()
        policy = policy or RetrainingPolicy(model_name=options["model"])
        policy.enabled = True
        policy.requester = requester
        policy.alert_kinds = options["alert_kinds"] or ["drift_share_above"]
        policy.production_days = options["production_days"]
        policy.min_gap_minutes = options["min_gap_minutes"]
        policy.overrides = options["overrides"]
        policy.action = (
            RetrainingAction.REGISTER
            if options["register_only"]
            else RetrainingAction.REQUEST_STAGING
        )
        try:
            retraining_policy_save(
                policy=policy, user="manage.py seed_retraining_policy", via="command"
            )
        except ValidationError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"retraining policy of {policy.model_name}: {policy.get_action_display()}"
            f" on {', '.join(policy.alert_kinds)} alerts"
        )
