from django.db import models


class TestStatus(models.TextChoices):
    """Outcome of the trainer's model tests, read from the version's tags."""

    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    UNKNOWN = "unknown", "Unknown"


class ModelTask(models.TextChoices):
    CLASSIFICATION = "classification", "Classification"
    REGRESSION = "regression", "Regression"
    UNKNOWN = "unknown", "Unknown"


class Stage(models.TextChoices):
    """Target stages a version can be promoted to (each backed by an MLflow alias)."""

    STAGING = "staging", "Staging"
    PRODUCTION = "production", "Production"


class PolicyTarget(models.TextChoices):
    """What a promotion policy governs: a stage, or rollbacks of production."""

    STAGING = "staging", "Staging"
    PRODUCTION = "production", "Production"
    ROLLBACK = "rollback", "Rollback to the previous production version"


class RequestKind(models.TextChoices):
    PROMOTION = "promotion", "Promotion"
    ROLLBACK = "rollback", "Rollback"
    EMERGENCY_ROLLBACK = "emergency_rollback", "Emergency rollback"


class RequestStatus(models.TextChoices):
    """States of a promotion request.

    pending → approved → applying → applied, or rejected / cancelled / expired /
    apply_failed (which the reconciler retries: apply_failed → applying). The
    legal moves are the table of ``governance.models.transitions``.
    """

    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    APPLYING = "applying", "Applying"
    APPLIED = "applied", "Applied"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"
    APPLY_FAILED = "apply_failed", "Apply failed"


OPEN_STATUSES = (
    RequestStatus.PENDING,
    RequestStatus.APPROVED,
    RequestStatus.APPLYING,
    RequestStatus.APPLY_FAILED,
)


class ChecksStatus(models.TextChoices):
    """Summary of a request's automated checks."""

    RUNNING = "running", "Running"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"


class Decision(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"


class CheckName(models.TextChoices):
    """Automated checks a policy can require."""

    TESTS_PASSED = "tests_passed", "Model tests passed"
    METRICS = "metrics", "Gated metrics at threshold and within margin of champion"
    SIGNATURE = "signature", "Signature compatible with the champion"
    STAGING_TIME = "staging_time", "Served in staging for the minimum time"
    NO_DRIFT_ALERT = "no_drift_alert", "No open drift alert"


class CheckOutcome(models.TextChoices):
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class AuditKind(models.TextChoices):
    """Kinds of audit events (the ledger is append-only)."""

    REQUEST_CREATED = "request_created", "Request created"
    REQUEST_CANCELLED = "request_cancelled", "Request cancelled"
    REQUEST_EXPIRED = "request_expired", "Request expired"
    CHECKS_COMPLETED = "checks_completed", "Checks completed"
    EVIDENCE_CHANGED = "evidence_changed", "Evidence changed (approvals stale)"
    APPROVED = "approved", "Approval"
    REJECTED = "rejected", "Rejection"
    REQUEST_APPROVED = "request_approved", "Request approved (policy satisfied)"
    DENIED = "denied", "Action denied"
    APPLY_STARTED = "apply_started", "Apply started"
    APPLIED = "applied", "Applied"
    APPLY_FAILED = "apply_failed", "Apply failed"
    ALIAS_MOVED = "alias_moved", "Alias moved by Modelgate"
    ALIAS_OUT_OF_BAND = "alias_out_of_band", "Alias changed outside Modelgate"
    EMERGENCY_CONFIRMED = "emergency_confirmed", "Emergency rollback confirmed"
    EMERGENCY_OVERDUE = "emergency_overdue", "Emergency rollback confirmation overdue"
    POLICY_CHANGED = "policy_changed", "Policy changed"
    RECONCILED = "reconciled", "Registry reconciled"
    RETRAINING_POLICY_CHANGED = (
        "retraining_policy_changed",
        "Retraining policy changed",
    )
    RETRAINING_FINISHED = "retraining_finished", "Retraining run finished"
    SERVING_OVERRIDE = "serving_override", "Serving override granted or revoked"
