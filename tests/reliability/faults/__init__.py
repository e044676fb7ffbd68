"""Faults: each breaks one invariant of RELIABILITY.md on purpose, so that
``python -m tests.reliability.run --faults`` can show that the check guarding
that invariant fails when it no longer holds (a check that cannot fail proves
nothing).

A fault is switched on in the stack's processes (gunicorn, the Celery worker
and beat, management commands) by ``DJANGO_SETTINGS_MODULE=
tests.reliability.faults.settings`` and ``MODELGATE_FAULT=<name>``: the
settings module extends the production settings, applies the fault's setting
overrides, and installs ``tests.reliability.faults`` as an app whose
``ready()`` applies the fault's code patch. The service's own code has no
fault switch anywhere; this package is test code only.
"""

from __future__ import annotations

import os
import sys
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

ENV = "MODELGATE_FAULT"
SETTINGS_MODULE = "tests.reliability.faults.settings"


@dataclass(frozen=True)
class Fault:
    name: str
    check: int
    breaks: str  # the invariant, as a reader of RELIABILITY.md knows it
    settings: dict[str, Any] = field(default_factory=dict)  # overrides
    env: dict[str, str] = field(default_factory=dict)  # extra environment
    patch: str = ""  # name of a function of this module applying a code patch


FAULTS = (
    Fault(
        "frame-options-sameorigin",
        1,
        "responses carry X-Frame-Options DENY (check --deploy clean)",
        settings={"X_FRAME_OPTIONS": "SAMEORIGIN"},
    ),
    Fault(
        "api-session-without-csrf",
        2,
        "session-authenticated writes need the CSRF token",
        patch="_csrf_exempt_sessions",
    ),
    Fault(
        "viewers-may-predict",
        3,
        "each role reaches exactly the routes of the declared matrix",
        patch="_anyone_predicts",
    ),
    Fault(
        "predictions-not-scoped-to-client",
        4,
        "a client cannot read another client's predictions by id",
        patch="_unscoped_prediction_lookup",
    ),
    Fault(
        "request-fields-taken-from-body",
        5,
        "server-side fields of a promotion request cannot be set by the client",
        patch="_mass_assigned_request",
    ),
    Fault(
        "requester-may-approve",
        6,
        "a requester cannot approve their own request (four-eyes)",
        patch="_requester_approves",
    ),
    Fault(
        "nul-characters-accepted",
        7,
        "bad input is refused with a 4xx naming it, nothing logged",
        patch="_strings_unchecked",
    ),
    Fault(
        "drf-default-error-format",
        8,
        "every answer conforms to the OpenAPI schema",
        settings={"EXCEPTION_HANDLER": "rest_framework.views.exception_handler"},
    ),
    Fault(
        "idempotency-key-dropped",
        9,
        "a retried X-Request-ID gets the stored answer, logged once",
        patch="_no_idempotency",
    ),
    Fault(
        "rate-limiter-needs-redis",
        10,
        "predictions are served with Redis stopped or frozen",
        patch="_rate_limit_on_redis_only",
    ),
    Fault(
        "report-attempts-uncapped",
        11,
        "a job that always crashes ends failed after the attempt cap",
        patch="_uncapped_report_attempts",
    ),
    Fault(
        "report-job-not-idempotent",
        12,
        "a report is computed once however many times its job is delivered",
        patch="_claim_whatever_the_state",
    ),
    Fault(
        "apply-swallows-mlflow-errors",
        13,
        "an apply that could not move the alias ends apply_failed",
        patch="_apply_ignores_errors",
    ),
    Fault(
        "transitions-without-condition",
        14,
        "simultaneous approvals: one decision, one apply",
        patch="_unconditional_transitions",
    ),
    Fault(
        "audit-verify-trusts-stored-hashes",
        15,
        "a changed audit row is detected by audit_verify",
        patch="_verify_links_only",
    ),
    Fault(
        "alias-watcher-off",
        16,
        "a promotion is served within the documented switch time",
        env={"INFERENCE_ALIAS_POLL_SECONDS": "0"},
    ),
    Fault(
        "serving-rules-off",
        17,
        "a caller is served only what the serving rules allow, on every channel",
        patch="_serving_rules_off",
    ),
    Fault(
        "cache-follows-raw-mlflow",
        17,
        "an alias moved directly in MLflow is never served",
        patch="_cache_follows_raw_mlflow",
    ),
    Fault(
        "audit-chain-unkeyed",
        18,
        "a whole-chain rewrite with recomputed hashes fails audit_verify",
        patch="_audit_chain_unkeyed",
    ),
    Fault(
        "staging-time-elapsed-in-digest",
        19,
        "approvals are not made stale by the clock",
        patch="_elapsed_time_in_evidence",
    ),
    Fault(
        "body-cap-off",
        20,
        "an oversized body to any endpoint gets 413 JSON before it is read",
        patch="_body_cap_off",
    ),
    Fault(
        "stream-trim-off",
        20,
        "the stream consumer's streams stay within their bounds",
        patch="_stream_trim_off",
    ),
)
BY_NAME = {f.name: f for f in FAULTS}


def active() -> Fault | None:
    name = os.environ.get(ENV, "")
    if not name:
        return None
    if name not in BY_NAME:
        raise RuntimeError(f"{ENV}={name!r}: no such fault ({', '.join(BY_NAME)})")
    return BY_NAME[name]


def apply_settings(namespace: dict) -> None:
    """Setting overrides of the active fault (called by the settings module)."""
    fault = active()
    if fault is None:
        return
    for key, value in fault.settings.items():
        if key == "EXCEPTION_HANDLER":
            namespace["REST_FRAMEWORK"] = {**namespace["REST_FRAMEWORK"], key: value}
        else:
            namespace[key] = value


def apply_patch() -> None:
    """The active fault's code patch (called by the app's ``ready()``)."""
    fault = active()
    if fault is not None and fault.patch:
        globals()[fault.patch]()
        print(f"FAULT {fault.name} applied (pid {os.getpid()})", file=sys.stderr)


def replace(module_name: str, attribute: str, new) -> None:
    """Set ``module.attribute`` to ``new``, and every loaded module's own
    reference to the original (``from module import attribute``) too."""
    module = sys.modules.get(module_name) or __import__(module_name, fromlist=["_"])
    original = getattr(module, attribute)
    setattr(module, attribute, new)
    for other in list(sys.modules.values()):
        namespace = getattr(other, "__dict__", None)
        if not namespace:
            continue
        for key, value in list(namespace.items()):
            if value is original:
                setattr(other, key, new)
    return original


# ----------------------------------------------------------------- patches
def _csrf_exempt_sessions() -> None:
    from rest_framework.authentication import SessionAuthentication

    # the classic "CsrfExemptSessionAuthentication"
    SessionAuthentication.enforce_csrf = lambda self, request: None


def _anyone_predicts() -> None:
    def can_predict(user) -> bool:
        return bool(user and user.is_authenticated)

    replace("inference.permissions", "can_predict", can_predict)


def _unscoped_prediction_lookup() -> None:
    from inference.models import PredictionLog

    def prediction_get_for_client(*, client, prediction_id):
        return (
            PredictionLog.objects.filter(prediction_id=prediction_id)
            .select_related("feedback")
            .first()
        )

    replace(
        "inference.selectors", "prediction_get_for_client", prediction_get_for_client
    )


def _mass_assigned_request() -> None:
    """As if the create serializer took every model field of the body."""
    from governance.apis import RequestListCreateApi
    from governance.models import PromotionRequest

    original = RequestListCreateApi.post
    writable = ("checks_status", "expires_at", "justification", "status")

    def post(self, request):
        response = original(self, request)
        if response.status_code == 201:
            extra = {k: request.data[k] for k in writable if k in request.data}
            if extra:
                PromotionRequest.objects.filter(pk=response.data["id"]).update(**extra)
        return response

    RequestListCreateApi.post = post


def _requester_approves() -> None:
    from governance.services import approvals

    original = approvals._check_reviewer

    def check_reviewer(user, request, action, via):
        if request.requester_id == getattr(user, "pk", None):
            return  # the four-eyes rule forgotten
        return original(user, request, action, via)

    approvals._check_reviewer = check_reviewer


def _strings_unchecked() -> None:
    from inference import validation

    def check_string(value, max_length):
        return None if len(value) <= max_length else "too long"

    replace("inference.validation", "check_string", check_string)
    assert validation.check_string is check_string


def _no_idempotency() -> None:
    from inference.services import predict

    predict.stored_response_get = lambda **lookup: None
    predict.stored_response_build = lambda **fields: None  # nothing to replay


def _rate_limit_on_redis_only() -> None:
    from django.conf import settings

    from core import ratelimit

    def window_hit(*, scope, who, period, now=None):
        import time

        now = time.time() if now is None else now
        prefix = settings.MODELGATE["RATE_LIMIT_PREFIX"]
        key = f"{prefix}:{scope}:{who}:{int(now // period)}"
        client = ratelimit._redis()
        count = client.incr(key)  # no breaker, no local fallback
        client.expire(key, period + 1, nx=True)
        return int(count)

    replace("core.ratelimit", "window_hit", window_hit)


def _uncapped_report_attempts() -> None:
    from monitoring.services import reports

    original = reports._conf
    reports._conf = lambda key: 10**6 if key == "REPORT_MAX_ATTEMPTS" else original(key)


def _claim_whatever_the_state() -> None:
    """Every delivery of a report job computes it again, finished or not."""
    from django.db.models import F
    from django.utils import timezone

    from monitoring.choices import ReportStatus
    from monitoring.models import Report
    from monitoring.services import reports

    def claim(report_id):
        now = timezone.now()
        token = uuid.uuid4().hex
        lease = timedelta(seconds=reports._conf("REPORT_LEASE_SECONDS"))
        Report.objects.filter(pk=report_id).update(  # no state, no lease
            status=ReportStatus.RUNNING,
            attempts=F("attempts") + 1,
            claim_token=token,
            lease_expires_at=now + lease,
            started_at=now,
            progress=1,
            progress_message="claimed",
            updated_at=now,
        )
        return Report.objects.select_related("monitor").get(pk=report_id), token

    reports._claim = claim


def _apply_ignores_errors() -> None:
    from governance.services import apply

    original = apply._move_aliases

    def move_aliases(request, approvers):
        try:
            return original(request, approvers)
        except Exception as exc:  # noqa: BLE001 - the fault
            print(f"FAULT: ignoring {exc}", file=sys.stderr)
            return {}, None

    apply._move_aliases = move_aliases


def _unconditional_transitions() -> None:
    """Promotion requests move to approved and to applying by primary key
    alone (``filter(pk=...).update(...)`` without the state condition), and
    an approval does not look at the state it approves."""
    from django.db.models.lookups import Exact

    from governance.choices import ChecksStatus, RequestStatus
    from governance.models import PromotionRequest
    from governance.services import approvals

    def reviewable(locked, evidence_digest, *_now):
        if locked.checks_status != ChecksStatus.PASSED:
            raise approvals.ConflictError("checks", code="checks_not_passed")

    approvals._reviewable = reviewable
    queryset_class = type(PromotionRequest.objects.all())
    original = queryset_class.update

    def update(self, **values):
        if self.model is PromotionRequest and values.get("status") in (
            RequestStatus.APPROVED,
            RequestStatus.APPLYING,
        ):
            pks = [
                child.rhs
                for child in self.query.where.children
                if isinstance(child, Exact) and child.lhs.target.primary_key
            ]
            if pks:
                return original(PromotionRequest.objects.filter(pk=pks[0]), **values)
        return original(self, **values)

    queryset_class.update = update


def _verify_links_only() -> None:
    from governance.models import AuditEvent
    from governance.services import audit

    def audit_verify(*, batch_size: int = 2000):
        checked, previous = 0, None
        for event in AuditEvent.objects.order_by("sequence").iterator(
            chunk_size=batch_size
        ):
            if previous is not None and event.prev_hash != previous.hash:
                return audit.VerifyResult(
                    False, checked, event.sequence, event.pk, "link broken"
                )
            previous, checked = event, checked + 1
        return audit.VerifyResult(True, checked)

    replace("governance.services.audit", "audit_verify", audit_verify)


def _audit_chain_unkeyed() -> None:
    """Verification as a plain SHA-256 chain: whoever recomputes it passes."""
    from governance.hashing import event_hash

    def link_problem(*, keys, sequence, key_id, prev_hash, body, stored_hash):
        ok = event_hash(prev_hash, body) == stored_hash
        return "" if ok or key_id else "content does not match its hash"

    replace("governance.services.audit", "_link_problem", link_problem)


def _elapsed_time_in_evidence() -> None:
    """The staging check's detail carries the seconds spent in staging (as it
    once carried the minutes): every re-run changes the evidence."""
    from dataclasses import replace as dc_replace

    from governance import checks

    original = checks.check_staging_time

    def check_staging_time(*, progress, minimum_minutes, now):
        result = original(progress=progress, minimum_minutes=minimum_minutes, now=now)
        elapsed = f" ({progress.minutes * 60:.0f} s in staging)"
        return dc_replace(result, detail=result.detail + elapsed)

    replace("governance.checks", "check_staging_time", check_staging_time)


def _body_cap_off() -> None:
    from core.limits import BodyLimitMiddleware

    BodyLimitMiddleware.process_view = lambda self, *args: None


def _stream_trim_off() -> None:
    from inference.services.stream import StreamConsumer

    StreamConsumer.trim = lambda self: 0


def _serving_rules_off() -> None:
    from inference.choices import ServedAs
    from inference.serving import policy

    def serving_grant(*, user, alias=None, version=None):
        return policy.ServingGrant(
            None if version is not None else alias, version, ServedAs.PROMOTED
        )

    replace("inference.serving.policy", "serving_grant", serving_grant)
    replace("inference.serving.policy", "tests_admit", lambda **kw: False)


def _cache_follows_raw_mlflow() -> None:
    from core import registry

    def alias_confirmed(*, model_name, alias):
        return registry.alias_resolve(model_name, alias)

    replace("inference.serving.lookup", "alias_confirmed", alias_confirmed)
