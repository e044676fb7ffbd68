"""Promote v1 of each demo model to staging and production through the real
workflow, with the demo users, so `make run` starts with models in production."""

from __future__ import annotations

from contextlib import contextmanager

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from governance.choices import PolicyTarget, RequestStatus, Stage
from governance.models import ModelVersion, PromotionRequest
from governance.selectors import model_aliases, stage_alias
from governance.services.apply import promotion_apply
from governance.services.approvals import promotion_approve
from governance.services.checks import promotion_checks_refresh
from governance.services.policies import policy_variant_ensure
from governance.services.requests import model_sync_quietly, promotion_request_create

DEMO_MODELS = ("sms-spam", "breast-cancer")
DEMO_POLICY_NOTE = (
    "Demo seed (manage.py seed_promotions): the production policy with the "
    "minimum time in staging waived, so a fresh demo starts with models in "
    "production. Never the active policy; requests under it say so."
)
VIA = "seed_promotions"


@contextmanager
def tasks_in_process():
    """Run Celery tasks synchronously: no worker may be running yet."""
    from config.celery_app import app

    saved = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = saved


class Command(BaseCommand):
    help = (
        "Promote v1 of the demo models (sms-spam, breast-cancer) to staging and "
        "production through the approval workflow: alice requests, bob approves "
        "staging, carol and dave approve production. Production uses an inactive "
        "'demo seed' copy of the production policy without the minimum time in "
        "staging (recorded in the audit ledger). Does nothing for a model that "
        "already has a production version."
    )

    def add_arguments(self, parser):
        parser.add_argument("models", nargs="*", default=list(DEMO_MODELS))

    def handle(self, *args, **options):
        users = self._users()
        with tasks_in_process():
            for name in options["models"]:
                self._seed(name, users)

    def _users(self) -> dict:
        User = get_user_model()
        found = {
            u.username: u
            for u in User.objects.filter(username__in=["alice", "bob", "carol", "dave"])
        }
        missing = {"alice", "bob", "carol", "dave"} - set(found)
        if missing:
            raise CommandError(
                f"demo users {sorted(missing)} are missing: "
                "run `manage.py seed_demo` first"
            )
        return found

    def _seed(self, name: str, users: dict) -> None:
        model_sync_quietly(name=name)
        aliases = model_aliases(name=name)
        if not ModelVersion.objects.filter(
            registered_model__name=name, version=1
        ).exists():
            self.stdout.write(f"{name}: v1 is not registered, skipped")
            return
        if aliases.get(stage_alias("production")) is not None:
            self.stdout.write(
                f"{name}: already in production "
                f"(v{aliases[stage_alias('production')]}), nothing to do"
            )
            return
        if aliases.get(stage_alias("staging")) != 1:
            self._promote(name, Stage.STAGING, users["alice"], [users["bob"]], None)
        policy = policy_variant_ensure(
            target=PolicyTarget.PRODUCTION,
            note=DEMO_POLICY_NOTE,
            overrides={"min_staging_minutes": 0},
        )
        self._promote(
            name,
            Stage.PRODUCTION,
            users["alice"],
            [users["carol"], users["dave"]],
            policy,
        )

    def _promote(self, name, target, requester, approvers, policy) -> None:
        request = (
            PromotionRequest.objects.filter(
                registered_model__name=name,
                model_version__version=1,
                target=target,
                status__in=[
                    RequestStatus.PENDING,
                    RequestStatus.APPROVED,
                    RequestStatus.APPLY_FAILED,
                ],
            )
            .order_by("-created_at")
            .first()
        )
        if request is None:
            request = promotion_request_create(
                user=requester,
                model_name=name,
                version=1,
                target=target,
                justification=f"Demo: put {name} v1 in {target}.",
                policy=policy,
                via=VIA,
            )
        # run the checks here: the command must not depend on a worker (the
        # task queued on commit finds nothing left to change)
        promotion_checks_refresh(request_id=request.pk)
        request.refresh_from_db()
        self.stdout.write(
            f"{name}: request #{request.pk} v1 → {target} by {requester.username}, "
            f"checks {request.checks_status}"
        )
        if request.checks_status != "passed":
            failed = [
                f"{c['label']}: {c['detail']}"
                for c in request.evidence.get("checks", [])
                if c["outcome"] == "failed"
            ]
            raise CommandError(f"{name}: checks did not pass: {'; '.join(failed)}")
        for approver in approvers:
            request.refresh_from_db()
            if request.status != RequestStatus.PENDING:
                break
            if request.approvals.filter(approver=approver, is_stale=False).exists():
                continue
            promotion_approve(
                request_id=request.pk,
                user=approver,
                comment="Demo approval (seed_promotions).",
                via=VIA,
            )
            self.stdout.write(f"{name}: {approver.username} approved #{request.pk}")
        request.refresh_from_db()
        if request.status in (RequestStatus.APPROVED, RequestStatus.APPLY_FAILED):
            promotion_apply(request_id=request.pk)  # idempotent
        request.refresh_from_db()
        if request.status != RequestStatus.APPLIED:
            raise CommandError(
                f"{name}: request #{request.pk} is {request.status}: "
                f"{request.apply_error}"
            )
        self.stdout.write(
            self.style.SUCCESS(f"{name}: v1 is now @{stage_alias(target)}")
        )
