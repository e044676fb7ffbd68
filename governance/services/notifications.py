"""E-mails of the promotion workflow, sent after the transaction commits.

Approvers hear of a request that needs them, the requester of the decision,
ops of every apply, failed apply, out-of-band alias change and emergency
rollback. A mail server that fails is logged; it never undoes the workflow.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse

from core.roles import Role

logger = logging.getLogger(__name__)


def _site(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def request_url(request_id: int) -> str:
    return _site(reverse("admin:governance_promotionrequest_change", args=[request_id]))


def model_url(name: str) -> str:
    return _site(reverse("governance:model-detail", kwargs={"name": name}))


def group_emails(
    groups: Iterable[str], *, exclude_user_id: int | None = None
) -> list[str]:
    """Addresses of the active members of ``groups`` (and of superusers when the
    group has no member, so a request never waits unseen)."""
    User = get_user_model()
    users = User.objects.filter(groups__name__in=list(groups), is_active=True)
    if exclude_user_id is not None:
        users = users.exclude(pk=exclude_user_id)
    emails = sorted({u.email for u in users if u.email})
    if not emails:
        emails = sorted(
            {
                u.email
                for u in User.objects.filter(is_superuser=True, is_active=True)
                if u.email and u.pk != exclude_user_id
            }
        )
    return emails


def ops_emails() -> list[str]:
    return sorted(
        set(group_emails([Role.OPS]) + list(settings.GOVERNANCE["OPS_EMAILS"]))
    )


def _send(subject: str, body: str, recipients: list[str]) -> None:
    if not recipients:
        logger.warning("no recipient for e-mail %r", subject)
        return
    try:
        send_mail(
            subject=f"[Modelgate] {subject}",
            message=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=recipients,
            fail_silently=False,
        )
    except Exception:
        logger.exception("could not send e-mail %r to %s", subject, recipients)


def send_after_commit(subject: str, body: str, recipients: list[str]) -> None:
    """Queue an e-mail for when the current transaction commits."""
    transaction.on_commit(lambda: _send(subject, body, recipients), robust=True)


def _describe(req) -> str:
    return (
        f"{req.registered_model.name} v{req.model_version.version} → {req.target}"
        f" ({req.get_kind_display().lower()} #{req.pk})"
    )


def notify_approvers(req) -> None:
    """The request's checks passed: its approvers can review it now."""
    recipients = group_emails(
        [req.policy.approver_group.name], exclude_user_id=req.requester_id
    )
    send_after_commit(
        f"Review needed: {_describe(req)}",
        f"{req.requester.get_username()} asks to promote {_describe(req)}.\n\n"
        f"Justification:\n{req.justification}\n\n"
        f"Automated checks passed. Approvals needed: {req.policy.approvals_required} "
        f"from {req.policy.approver_group.name}.\n\nReview: {request_url(req.pk)}\n",
        recipients,
    )


def notify_requester(req, *, what: str, by: str = "", comment: str = "") -> None:
    """Tell the requester their request was approved, rejected, expired, ..."""
    email = req.requester.email
    lines = [
        f"Your request {_describe(req)} was {what}" + (f" by {by}." if by else ".")
    ]
    if comment:
        lines.append(f"\nComment:\n{comment}")
    failed = [c for c in req.evidence.get("checks", []) if c.get("outcome") == "failed"]
    if what.startswith("checked") and failed:
        lines.append("\nFailed checks:")
        lines.extend(f"- {c['label']}: {c['detail']}" for c in failed)
    lines.append(f"\nDetails: {request_url(req.pk)}")
    send_after_commit(
        f"Request {what}: {_describe(req)}",
        "\n".join(lines) + "\n",
        [email] if email else [],
    )


def notify_ops_applied(req, *, aliases: dict[str, int]) -> None:
    moved = ", ".join(f"@{a} → v{v}" for a, v in aliases.items())
    send_after_commit(
        f"Applied: {_describe(req)}",
        f"Modelgate moved {req.registered_model.name} {moved}.\n"
        f"Requested by {req.requester.get_username()}.\n\n"
        f"Model: {model_url(req.registered_model.name)}\n"
        f"Request: {request_url(req.pk)}\n",
        ops_emails(),
    )


def notify_ops_apply_failed(req, *, error: str) -> None:
    send_after_commit(
        f"Apply FAILED: {_describe(req)}",
        f"Moving the MLflow alias for {_describe(req)} failed (attempt "
        f"{req.apply_attempts}):\n\n{error}\n\nThe alias is unchanged; the "
        f"reconciler retries the request.\n\nRequest: {request_url(req.pk)}\n",
        ops_emails(),
    )


def notify_ops_out_of_band(
    *,
    model_name: str,
    alias: str,
    expected: int | None,
    actual: int | None,
    reverted: bool,
) -> None:
    what = (
        "moved back"
        if reverted
        else "left as found (MODELGATE_REVERT_OUT_OF_BAND is off)"
    )
    send_after_commit(
        f"Alias changed outside Modelgate: {model_name}@{alias}",
        f"The MLflow alias {model_name}@{alias} points to "
        f"{'v' + str(actual) if actual is not None else 'nothing'} but Modelgate last "
        f"set it to {'v' + str(expected) if expected is not None else 'nothing'}.\n"
        f"Someone changed it outside Modelgate. The alias was {what}.\n\n"
        f"Model: {model_url(model_name)}\n",
        ops_emails(),
    )


def notify_emergency(req, *, overdue: bool = False) -> None:
    """An emergency rollback happened (or its confirmation is overdue)."""
    approvers = group_emails(
        [req.policy.approver_group.name], exclude_user_id=req.requester_id
    )
    subject = (
        f"Emergency rollback NOT CONFIRMED: {_describe(req)}"
        if overdue
        else f"Emergency rollback: {_describe(req)}"
    )
    send_after_commit(
        subject,
        f"{req.requester.get_username()} rolled {req.registered_model.name} "
        f"production back to v{req.model_version.version} at once.\n\n"
        f"Reason:\n{req.justification}\n\n"
        f"A member of {req.policy.approver_group.name} must confirm it by "
        f"{req.confirm_by:%Y-%m-%d %H:%M %Z}.\n\nConfirm: {request_url(req.pk)}\n",
        sorted(set(approvers + ops_emails())),
    )
