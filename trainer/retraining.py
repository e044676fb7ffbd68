"""Retraining services: audited policies, triggers (schedule, alert, new labels, by
hand) and the run, which trains, registers and, when the policy says so,
opens a staging request. A run never moves an alias: the request goes through
the normal checks and approvals."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone

from core.errors import ApplicationError, ConflictError
from core.labelled import labels_count_since
from governance.choices import AuditKind
from governance.selectors import champion_version
from governance.services.audit import audit_append
from governance.services.notifications import model_url, send_after_commit
from governance.services.requests import promotion_request_create
from trainer.choices import (
    RUN_TRANSITIONS,
    SEVERITY_RANK,
    RetrainingAction,
    RetrainingTrigger,
    RunStatus,
)
from trainer.models import RetrainingPolicy, RetrainingRun

logger = logging.getLogger(__name__)

ACTOR = "retraining"


# ------------------------------------------------------------------ policy
def retraining_policy_save(
    *, policy: RetrainingPolicy, user: Any, via: str = ""
) -> RetrainingPolicy:
    """Validate and save a policy, and record the change in the audit ledger
    (before and after)."""
    policy.full_clean()
    before = None
    if policy.pk:
        old = RetrainingPolicy.objects.filter(pk=policy.pk).first()
        before = old.snapshot() if old else None
    with transaction.atomic():
        policy.save()
        audit_append(
            kind=AuditKind.RETRAINING_POLICY_CHANGED,
            actor=user,
            model_name=policy.model_name,
            payload={"before": before, "after": policy.snapshot(), "via": via},
        )
    logger.info("retraining policy of %s saved by %s", policy.model_name, user)
    return policy


# ---------------------------------------------------------------- triggers
def _within_gap(policy: RetrainingPolicy, now: datetime) -> RetrainingRun | None:
    """The policy's last run when it started less than the minimum gap ago."""
    last = policy.runs.exclude(status=RunStatus.SKIPPED).order_by("-created_at")
    last = last.first()
    if last and now - last.created_at < timedelta(minutes=policy.min_gap_minutes):
        return last
    return None


def _enqueue(run_id: int) -> None:
    from trainer.tasks import retraining_run_task

    def publish() -> None:
        try:
            retraining_run_task.delay(run_id=run_id)
        except Exception as exc:
            logger.warning("could not publish retraining run %s: %s", run_id, exc)

    transaction.on_commit(publish)


def retraining_trigger(
    *,
    policy: RetrainingPolicy,
    trigger: str,
    key: str,
    detail: dict | None = None,
    user: Any = None,
    now: datetime | None = None,
) -> tuple[RetrainingRun, bool]:
    """Start one run for the trigger ``key`` (at most one per key: a trigger
    delivered again returns the first run, ``created`` False). An automatic
    trigger within the policy's minimum gap is recorded as skipped."""
    now = now or timezone.now()
    with transaction.atomic():
        # the policy row serializes triggers, so two cannot both pass the gap
        policy = RetrainingPolicy.objects.select_for_update().get(pk=policy.pk)
        existing = RetrainingRun.objects.filter(policy=policy, trigger_key=key)
        if existing.exists():
            return existing.get(), False
        status, error = RunStatus.QUEUED, ""
        last = _within_gap(policy, now) if trigger != RetrainingTrigger.MANUAL else None
        if last is not None:
            status = RunStatus.SKIPPED
            error = (
                f"run #{last.pk} started less than {policy.min_gap_minutes} "
                "minutes before (the policy's minimum gap)"
            )
        try:
            with transaction.atomic():
                run = RetrainingRun.objects.create(
                    policy=policy,
                    model_name=policy.model_name,
                    trigger=trigger,
                    trigger_key=key,
                    trigger_detail=detail or {},
                    requested_by=user,
                    status=status,
                    error=error,
                    finished_at=now if status == RunStatus.SKIPPED else None,
                )
        except IntegrityError:
            return RetrainingRun.objects.get(policy=policy, trigger_key=key), False
        if status == RunStatus.QUEUED:
            _enqueue(run.pk)
    logger.info(
        "retraining run #%s of %s (%s %s): %s",
        run.pk,
        run.model_name,
        trigger,
        key,
        status,
    )
    return run, True


def retraining_start_manual(*, model_name: str, user: Any) -> RetrainingRun:
    """A run started by hand (the API); needs the model's policy."""
    from django.utils.crypto import get_random_string

    policy = RetrainingPolicy.objects.filter(model_name=model_name).first()
    if policy is None:
        raise ApplicationError(
            f"{model_name!r} has no retraining policy",
            {"fields": {"model_name": ["no retraining policy for this model"]}},
        )
    if not policy.enabled:
        raise ConflictError(f"the retraining policy of {model_name} is disabled")
    active = policy.runs.filter(status__in=(RunStatus.QUEUED, RunStatus.RUNNING))
    if active.exists():
        raise ConflictError(
            f"retraining run #{active.first().pk} of {model_name} is not finished",
            code="run_in_progress",
        )
    run, _ = retraining_trigger(
        policy=policy,
        trigger=RetrainingTrigger.MANUAL,
        key=f"manual:{get_random_string(16)}",
        detail={"by": user.get_username()},
        user=user,
    )
    return run


def retraining_on_alert(
    *,
    alert_id: int,
    model_name: str,
    kind: str,
    severity: str,
    title: str = "",
    value: float | None = None,
    model_version: int | None = None,
) -> RetrainingRun | None:
    """An alert opened: start a run if the model's policy asks for alerts of
    that kind and severity (once per alert, however often it is delivered)."""
    policy = RetrainingPolicy.objects.filter(
        model_name=model_name, enabled=True
    ).first()
    if (
        policy is None
        or kind not in (policy.alert_kinds or [])
        or SEVERITY_RANK.get(severity, -1) < SEVERITY_RANK[policy.alert_min_severity]
    ):
        return None
    run, _ = retraining_trigger(
        policy=policy,
        trigger=RetrainingTrigger.ALERT,
        key=f"alert:{alert_id}",
        detail={
            "alert_id": alert_id,
            "kind": kind,
            "severity": severity,
            "title": title,
            "value": value,
            "model_version": model_version,
        },
    )
    return run


def retraining_due(*, now: datetime | None = None) -> list[RetrainingRun]:
    """Start the runs that schedules and new labels call for (beat, every few
    minutes). A policy within its minimum gap waits for a later tick."""
    now = now or timezone.now()
    started = []
    for policy in RetrainingPolicy.objects.filter(enabled=True):
        if _within_gap(policy, now):
            continue
        trigger = None
        if policy.schedule_hours:
            slot = int(now.timestamp() // (policy.schedule_hours * 3600))
            trigger = (RetrainingTrigger.SCHEDULE, f"schedule:{slot}", {"slot": slot})
        if trigger is None and policy.min_new_labels:
            last = policy.runs.exclude(status=RunStatus.SKIPPED).first()
            since = last.created_at if last else None
            count = labels_count_since(model_name=policy.model_name, since=since)
            if count >= policy.min_new_labels:
                trigger = (
                    RetrainingTrigger.LABELS,
                    f"labels:after-{last.pk if last else 0}",
                    {
                        "new_labels": count,
                        "since": since.isoformat() if since else None,
                    },
                )
        if trigger is not None:
            kind, key, detail = trigger
            run, created = retraining_trigger(
                policy=policy, trigger=kind, key=key, detail=detail, now=now
            )
            if created:
                started.append(run)
    return started


# --------------------------------------------------------------------- run
def run_transition(run_id: int, source: str, target: str, **fields: Any) -> bool:
    """Move a run from ``source`` to ``target`` if it still is in ``source``
    (conditional UPDATE); False when another delivery moved it first."""
    if target not in RUN_TRANSITIONS.get(source, ()):
        raise ValueError(f"a run cannot go from {source} to {target}")
    return bool(
        RetrainingRun.objects.filter(pk=run_id, status=source).update(
            status=target, updated_at=timezone.now(), **fields
        )
    )


def _progress_writer(run_id: int):
    started = timezone.now()

    def progress(message: str) -> None:
        elapsed = (timezone.now() - started).total_seconds()
        line = f"{elapsed:6.1f}s  {message}"
        # updated_at is the run's heartbeat (retraining_recover)
        RetrainingRun.objects.filter(pk=run_id).update(
            progress=message[:255],
            log=Concat(F("log"), Value(line + "\n")),
            updated_at=timezone.now(),
        )

    return progress


def _owners(policy: RetrainingPolicy) -> list[str]:
    emails = list(policy.notify_emails or [])
    if policy.requester and policy.requester.email:
        emails.append(policy.requester.email)
    return sorted(set(emails))


def _notify_owners(run: RetrainingRun, why: str) -> None:
    send_after_commit(
        f"Retraining of {run.model_name} failed (run #{run.pk})",
        f"Retraining run #{run.pk} of {run.model_name} (trigger: "
        f"{run.get_trigger_display().lower()}) did not produce a version to "
        f"promote.\n\n{why}\n\nNo promotion request was opened; no alias moved."
        f"\n\n{model_url(run.model_name)}#retraining",
        _owners(run.policy),
    )


def _trigger_text(run: RetrainingRun) -> str:
    detail = run.trigger_detail or {}
    if run.trigger == RetrainingTrigger.ALERT:
        return (
            f"{detail.get('severity', '')} alert #{detail.get('alert_id')}: "
            f"{detail.get('title', '')}"
        )
    if run.trigger == RetrainingTrigger.LABELS:
        return f"{detail.get('new_labels')} new labels since the last run"
    if run.trigger == RetrainingTrigger.MANUAL:
        return f"started by hand by {detail.get('by', 'someone')}"
    return "the policy's schedule"


def retraining_justification(*, run: RetrainingRun, champion: dict | None) -> str:
    """The staging request's automatic justification: the trigger, the data,
    the metrics against the champion's."""
    data = run.data or {}
    sources = data.get("sources", {})
    parts = ", ".join(
        f"{name} {part.get('rows_used', 0)} rows ({part.get('share', 0):.1%})"
        for name, part in sources.items()
    )
    lines = [
        f"Automatic retraining run #{run.pk} of {run.model_name} "
        f"(policy: register and request staging).",
        f"Trigger: {_trigger_text(run)}.",
        f"Data: {data.get('rows_used', '?')} rows used, {parts or 'original data'}; "
        f"sha256 {str(data.get('sha256', ''))[:12]}.",
    ]
    production = sources.get("production")
    if production:
        lines.append(
            f"Labelled predictions from {production.get('start')} to "
            f"{production.get('end')} ({production.get('labelled_predictions')} "
            "with feedback)."
        )
    if champion:
        lines.append(
            f"Against the champion v{champion['version']} (each on its own "
            "held-out split; the checks compare both on the same rows):"
        )
    else:
        lines.append("No champion in production yet. Held-out metrics:")
    for name, value in sorted(run.metrics.items()):
        if name.startswith(("cm_", "rows_")):
            continue
        theirs = (champion or {}).get("metrics", {}).get(name)
        versus = f" vs {theirs:.4f}" if isinstance(theirs, (int, float)) else ""
        lines.append(f"- {name}: {value:.4f}{versus}")
    lines.append("Model tests passed. Retraining moves no alias; approvers decide.")
    return "\n".join(lines)


def _config_for(policy: RetrainingPolicy):
    from trainer.config import load_config

    overrides = list(policy.overrides or [])
    if policy.production_days:
        overrides.append(f"data.production.days={policy.production_days}")
        overrides.append(f"data.production.model={policy.model_name}")
    overrides.append(f"mlflow.registered_model={policy.model_name}")
    return load_config(Path(settings.BASE_DIR) / policy.params_file, overrides)


def retraining_recover(*, now: datetime | None = None) -> dict[str, int]:
    """Runs no worker holds (beat, with the retraining tick): queued ones
    older than ``REQUEUE_SECONDS`` are published again; running ones
    without a progress line for ``STALL_SECONDS`` are given up as errors
    (their owners told). Returns how many of each."""
    now = now or timezone.now()
    conf = settings.TRAINER
    queued = list(
        RetrainingRun.objects.filter(
            status=RunStatus.QUEUED,
            updated_at__lt=now - timedelta(seconds=conf["REQUEUE_SECONDS"]),
        ).values_list("pk", flat=True)[:100]
    )
    for run_id in queued:
        RetrainingRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
            updated_at=now
        )
        _enqueue(run_id)
    stalled = RetrainingRun.objects.filter(
        status=RunStatus.RUNNING,
        updated_at__lt=now - timedelta(seconds=conf["STALL_SECONDS"]),
    ).select_related("policy__requester")[:100]
    given_up = 0
    for run in stalled:
        minutes = round(conf["STALL_SECONDS"] / 60)
        given_up += _finish_error(
            run,
            f"no progress for {minutes} minutes since '{run.progress}': the "
            "worker running it stopped (restart, crash or out of memory); "
            "start a new run",
        )
    if queued or given_up:
        logger.warning(
            "retraining recovery: %d queued runs published again, %d stalled "
            "runs given up",
            len(queued),
            given_up,
        )
    return {"requeued": len(queued), "given_up": given_up}


def _finish_error(run: RetrainingRun, error: str) -> bool:
    """Record a running run as failed with ``error``; False if it had
    already finished."""
    with transaction.atomic():
        if run_transition(
            run.pk,
            RunStatus.RUNNING,
            RunStatus.ERROR,
            finished_at=timezone.now(),
            error=error[:5000],
        ):
            audit_append(
                kind=AuditKind.RETRAINING_FINISHED,
                actor=ACTOR,
                model_name=run.model_name,
                payload={
                    "run": run.pk,
                    "trigger": run.trigger,
                    "status": "error",
                    "error": error[:500],
                },
            )
            _notify_owners(run, f"The run stopped with an error: {error}")
            return True
    return False


def retraining_run_execute(*, run_id: int) -> RetrainingRun | None:
    """Train, test and register a version for a queued run; then, if the
    policy says so and its tests passed, open a staging request. A second
    delivery of the same run does nothing (None)."""
    from trainer.config import ConfigError
    from trainer.data import DataError
    from trainer.services import training_run

    if not run_transition(
        run_id, RunStatus.QUEUED, RunStatus.RUNNING, started_at=timezone.now()
    ):
        logger.info("retraining run %s is not queued; nothing to do", run_id)
        return None
    run = RetrainingRun.objects.select_related("policy__requester").get(pk=run_id)
    policy = run.policy
    try:
        config = _config_for(policy)
        result = training_run(config=config, progress=_progress_writer(run_id))
    except (ConfigError, DataError) as exc:
        _finish_error(run, str(exc))
        return RetrainingRun.objects.get(pk=run_id)
    except Exception as exc:  # a job must record why it stopped
        logger.exception("retraining run %s failed", run_id)
        _finish_error(run, f"{type(exc).__name__}: {exc}")
        return RetrainingRun.objects.get(pk=run_id)

    status = RunStatus.SUCCEEDED if result.tests_passed else RunStatus.FAILED
    why = "Failed model tests:\n" + "\n".join(f"- {f}" for f in result.failures)
    with transaction.atomic():
        finished = run_transition(
            run_id,
            RunStatus.RUNNING,
            status,
            finished_at=timezone.now(),
            model_version=result.version,
            tests_passed=result.tests_passed,
            metrics=result.metrics,
            data=result.data,
            error="" if result.tests_passed else why[:5000],
        )
        if not finished:
            # given up as stalled meanwhile: the version stays registered,
            # but nothing is opened in a run's name its owners were told
            # had failed
            logger.warning(
                "retraining run %s finished (v%s) after it was given up; "
                "no request opened",
                run_id,
                result.version,
            )
            return RetrainingRun.objects.get(pk=run_id)
        audit_append(
            kind=AuditKind.RETRAINING_FINISHED,
            actor=ACTOR,
            model_name=run.model_name,
            version=result.version,
            payload={
                "run": run.pk,
                "trigger": run.trigger,
                "trigger_key": run.trigger_key,
                "status": status,
                "data_sha256": result.data.get("sha256"),
                "sources": {
                    k: v.get("rows_used")
                    for k, v in result.data.get("sources", {}).items()
                },
            },
        )
        run.refresh_from_db()
        if status == RunStatus.FAILED:
            _notify_owners(
                run,
                f"v{result.version} was registered as failed (governance will "
                f"not promote it).\n{why}",
            )
    if status == RunStatus.SUCCEEDED and policy.action == (
        RetrainingAction.REQUEST_STAGING
    ):
        _request_staging(run)
    return RetrainingRun.objects.get(pk=run_id)


def _request_staging(run: RetrainingRun) -> None:
    champion = champion_version(name=run.model_name)
    justification = retraining_justification(
        run=run,
        champion={"version": champion.version, "metrics": champion.metrics or {}}
        if champion
        else None,
    )
    if run.policy.requester is None:
        RetrainingRun.objects.filter(pk=run.pk).update(
            error="no staging request: the policy names no requester"
        )
        return
    try:
        request = promotion_request_create(
            user=run.policy.requester,
            model_name=run.model_name,
            version=run.model_version,
            target="staging",
            justification=justification,
            via="retraining",
        )
    except ApplicationError as exc:
        logger.warning("retraining run %s opened no request: %s", run.pk, exc)
        with transaction.atomic():
            RetrainingRun.objects.filter(pk=run.pk).update(
                error=f"no staging request: {exc}"
            )
            _notify_owners(run, f"The staging request could not be opened: {exc}")
        return
    RetrainingRun.objects.filter(pk=run.pk).update(promotion_request=request)
