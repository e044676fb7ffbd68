"""Running a request's automated checks and keeping its evidence current.

The checks read the mirror, the audit ledger and monitoring's open alerts
(through the OPEN_ALERTS_PROVIDER setting: governance imports no other app),
and score the candidate and the champion on one evaluation set
(``governance.services.comparison``).
When the evidence of a request changes, approvals given on the old evidence go
stale and the request returns to pending.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.module_loading import import_string

from governance import checks as pure
from governance.choices import (
    OPEN_STATUSES,
    AuditKind,
    CheckName,
    ChecksStatus,
    Decision,
    RequestKind,
    RequestStatus,
    Stage,
)
from governance.hashing import evidence_digest, json_normalized, timestamp_text
from governance.models import Approval, ModelVersion, PromotionRequest
from governance.models.transitions import request_transition
from governance.selectors import (
    champion_version,
    fresh_approvers,
    promotion_request_get,
    staging_segments,
)
from governance.services import notifications
from governance.services.audit import audit_append
from governance.services.comparison import champion_comparison

logger = logging.getLogger(__name__)

# Requests whose evidence may still change what happens to them.
RECHECKABLE = (
    RequestStatus.PENDING,
    RequestStatus.APPROVED,
    RequestStatus.APPLY_FAILED,
)


def open_alerts(*, model_name: str, version: int | None) -> tuple[list | None, str]:
    """Open drift alerts from monitoring: (alerts, "") or (None, why not)."""
    path = settings.MODELGATE.get("OPEN_ALERTS_PROVIDER", "")
    if not path:
        return None, "no OPEN_ALERTS_PROVIDER configured"
    try:
        provider = import_string(path)
    except ImportError:
        return None, f"monitoring not installed ({path} cannot be imported)"
    try:
        return list(provider(model_name=model_name, version=version)), ""
    except Exception as exc:  # a broken provider must not be read as "no alert"
        logger.exception("open-alerts provider %s failed for %s", path, model_name)
        return [
            {
                "id": None,
                "severity": "unknown",
                "rule": "provider_error",
                "title": f"could not read open alerts: {type(exc).__name__}: {exc}",
            }
        ], ""


def _version_summary(mv: ModelVersion) -> dict:
    return {
        "version": mv.version,
        "test_status": mv.test_status,
        "metrics": {k: v for k, v in sorted(mv.metrics.items())},
        "heldout": pure.heldout_fingerprint(tags=mv.tags, params=mv.params),
        "run_id": mv.run_id,
    }


def _comparison(
    *, request: PromotionRequest, champion: ModelVersion | None, score: bool
) -> tuple[dict | None, dict]:
    """The champion comparison of the metrics check (None: no champion or no
    gated metric), and what about it stays out of the digest."""
    gates = request.policy.metric_gates
    if champion is None or not gates:
        return None, {}
    if not score:
        return {
            "champion_version": champion.version,
            "evaluation_set": None,
            "candidate": {},
            "champion": {},
            "error": "not scored: this request's evidence is recorded at once",
        }, {}
    return champion_comparison(
        model_name=request.registered_model.name,
        candidate=request.model_version,
        champion=champion,
        metrics=sorted({gate["metric"] for gate in gates}),
        evaluation_set=request.policy.evaluation_set,
    )


def evidence_compute(
    *, request: PromotionRequest, score: bool = True
) -> tuple[dict, str]:
    """The evidence of ``request`` now, and its checks status (reads only).

    With a champion and gated metrics, both versions are scored on one
    evaluation set (downloads and loads two models: the governance worker's
    job). ``score=False`` (an emergency rollback, recorded inside its web
    request) leaves the comparison undone, which fails the metrics check.
    """
    now = timezone.now()
    policy = request.policy
    name = request.registered_model.name
    candidate = request.model_version
    champion = champion_version(name=name)
    if champion is not None and champion.pk == candidate.pk:
        champion = None
    required = set(policy.required_checks)
    comparison, comparison_info = _comparison(
        request=request, champion=champion, score=score
    )

    wanted = [CheckName.TESTS_PASSED, CheckName.METRICS, CheckName.SIGNATURE]
    if request.target == Stage.PRODUCTION:
        if request.kind == RequestKind.PROMOTION:
            wanted.append(CheckName.STAGING_TIME)
        wanted.append(CheckName.NO_DRIFT_ALERT)
    wanted += [CheckName(c) for c in required if CheckName(c) not in wanted]

    results = []
    for check in wanted:
        is_required = check.value in required
        if check == CheckName.TESTS_PASSED:
            result = pure.check_tests_passed(test_status=candidate.test_status)
        elif check == CheckName.METRICS:
            result = pure.check_metrics(
                gates=policy.metric_gates,
                candidate=candidate.metrics,
                comparison=comparison,
            )
        elif check == CheckName.SIGNATURE:
            result = pure.check_signature(
                candidate=candidate.signature,
                champion=champion.signature if champion else None,
            )
        elif check == CheckName.STAGING_TIME:
            minimum = policy.min_staging_minutes
            if minimum is None:
                minimum = settings.GOVERNANCE["MIN_STAGING_MINUTES"]
            progress = pure.staging_progress(
                segments=staging_segments(model_name=name, version=candidate.version),
                minimum_minutes=minimum,
                now=now,
            )
            result = pure.check_staging_time(
                progress=progress, minimum_minutes=minimum, now=now
            )
        else:
            alerts, unavailable = open_alerts(
                model_name=name, version=candidate.version
            )
            champion_alerts = None
            if champion is not None and alerts is not None:
                champion_alerts, _ = open_alerts(
                    model_name=name, version=champion.version
                )
            result = pure.check_no_drift_alert(
                alerts=alerts,
                unavailable=unavailable,
                champion_alerts=champion_alerts,
                champion_version=champion.version if champion else None,
                candidate_version=candidate.version,
            )
        results.append(
            pure.CheckResult(
                result.name,
                result.outcome,
                result.detail,
                is_required,
                result.data,
                result.info,
            )
        )

    champion_alerts, champion_unavailable = (None, "no champion")
    if champion is not None:
        champion_alerts, champion_unavailable = open_alerts(
            model_name=name, version=champion.version
        )
    evidence = json_normalized(
        {
            "candidate": _version_summary(candidate),
            "champion": _version_summary(champion) if champion else None,
            "policy": {
                "id": policy.pk,
                "target": policy.target,
                "version": policy.version,
            },
            "checks": [r.as_dict() for r in results],
            "computed_at": timestamp_text(now),
            # shown to reviewers, not part of the digest
            "info": {
                "champion_open_alerts": champion_alerts,
                "champion_alerts_unavailable": champion_unavailable,
                "comparison": comparison_info,
            },
        }
    )
    return evidence, pure.checks_summary(results)


def promotion_checks_refresh(*, request_id: int) -> bool:
    """Run the checks of one request and store the evidence. Returns True when
    the evidence changed (approvals on the old evidence then go stale)."""
    request = promotion_request_get(request_id=request_id)
    if request is None or request.status not in RECHECKABLE:
        return False
    if request.kind == RequestKind.EMERGENCY_ROLLBACK:
        return False  # applied at once; its evidence is recorded when it starts
    evidence, status = evidence_compute(request=request)
    digest = evidence_digest(evidence)
    now = timezone.now()

    with transaction.atomic():
        locked = PromotionRequest.objects.select_for_update().get(pk=request_id)
        if locked.status not in RECHECKABLE:
            return False
        previous_digest, previous_status = locked.evidence_digest, locked.checks_status
        changed = digest != previous_digest
        PromotionRequest.objects.filter(pk=request_id).update(
            evidence=evidence,
            evidence_digest=digest,
            checks_status=status,
            checks_run_at=now,
            updated_at=now,
        )
        if not changed and previous_status == status:
            return False
        name = request.registered_model.name
        version = request.model_version.version
        failed = [c["name"] for c in evidence["checks"] if c["outcome"] == "failed"]
        if not previous_digest:
            audit_append(
                kind=AuditKind.CHECKS_COMPLETED,
                model_name=name,
                version=version,
                request_id=request_id,
                payload={"digest": digest, "status": status, "failed": failed},
            )
        else:
            stale = fresh_approvers(request=locked)
            Approval.objects.filter(
                request_id=request_id, decision=Decision.APPROVE, is_stale=False
            ).update(is_stale=True, updated_at=now)
            back_to_pending = request_transition(
                request_id=request_id, name="reopen", now=now
            )
            audit_append(
                kind=AuditKind.EVIDENCE_CHANGED,
                model_name=name,
                version=version,
                request_id=request_id,
                payload={
                    "old_digest": previous_digest,
                    "digest": digest,
                    "status": status,
                    "failed": failed,
                    "stale_approvals": stale,
                    "back_to_pending": back_to_pending,
                },
            )
        request.refresh_from_db()
        if status == ChecksStatus.PASSED and (
            previous_status != ChecksStatus.PASSED or changed
        ):
            notifications.notify_approvers(request)
        elif status == ChecksStatus.FAILED and previous_status != ChecksStatus.FAILED:
            notifications.notify_requester(
                request, what="checked: required checks failed"
            )
    if changed:
        _recheck_when_due(request_id, evidence, now)
    logger.info(
        "checks of request #%s: %s (evidence %s)",
        request_id,
        status,
        "changed" if changed else "unchanged",
    )
    return changed


# A time-based check due within this many seconds gets its own re-run at that
# instant; later ones are left to housekeeping (a countdown must stay well
# below the broker's visibility timeout).
RECHECK_AHEAD_SECONDS = 900


def _recheck_when_due(request_id: int, evidence: dict, now) -> None:
    """Re-run the checks the moment a time-based check will pass, so the
    request is reviewable then rather than at the next housekeeping tick."""
    due = [
        parse_datetime(when)
        for c in evidence["checks"]
        if c["outcome"] == "failed" and (when := c["data"].get("passes_at"))
    ]
    due = [when for when in due if when is not None and when > now]
    if not due:
        return
    seconds = (min(due) - now).total_seconds() + 1
    if seconds > RECHECK_AHEAD_SECONDS:
        return
    from governance.tasks import promotion_checks_run

    transaction.on_commit(
        lambda: promotion_checks_run.apply_async(
            kwargs={"request_id": request_id}, countdown=seconds
        ),
        robust=True,
    )


def _enqueue_checks(request_id: int) -> None:
    from governance.tasks import promotion_checks_run

    transaction.on_commit(
        lambda: promotion_checks_run.delay(request_id=request_id), robust=True
    )


def promotion_checks_schedule(*, model_name: str) -> int:
    """Re-run the automated checks of every open promotion request of a model.

    Called when evidence outside governance changes (monitoring calls it when a
    drift alert of the model opens or closes; governance after every apply, as
    the champion changed). Returns the number of requests scheduled.
    """
    ids = list(
        PromotionRequest.objects.filter(
            registered_model__name=model_name, status__in=RECHECKABLE
        ).values_list("pk", flat=True)
    )
    for request_id in ids:
        _enqueue_checks(request_id)
    if ids:
        logger.info(
            "checks of %d open request(s) of %s scheduled", len(ids), model_name
        )
    return len(ids)


def promotion_checks_refresh_open() -> int:
    """Re-run the checks of every open request (periodic: time in staging grows,
    alerts close). Returns how many requests' evidence changed."""
    changed = 0
    for request_id in PromotionRequest.objects.filter(
        status__in=[s for s in OPEN_STATUSES if s in RECHECKABLE]
    ).values_list("pk", flat=True):
        try:
            changed += promotion_checks_refresh(request_id=request_id)
        except Exception:
            logger.exception("checks of request #%s failed", request_id)
    return changed
