"""Mass assignment: fields a client may not set (status, approver, requester,
timestamps, versions, ids, owners) sent along with a legitimate write are
ignored or refused; what is stored is what the server decided."""

from __future__ import annotations

import uuid
from datetime import timedelta

from tests.reliability.helpers import open_staging_request, spare_model
from tests.reliability.web import Browser, multipart

NUMBER = 5
TITLE = "Mass assignment: server-side fields stay server-side"
FAST = False

PAST = "2000-01-01T00:00:00Z"
FUTURE = "2999-01-01T00:00:00Z"


def run(ctx) -> None:
    ctx.orm()
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from governance.models import Approval, ModelVersion, PromotionRequest
    from inference.models import BatchJob, Feedback

    User = get_user_model()
    admin = User.objects.get(username="admin")
    alice = ctx.accounts["requester"].username
    started = timezone.now() - timedelta(seconds=5)
    wrong: list[str] = []
    writes = 0

    def verify(what: str, checks: dict) -> None:
        nonlocal writes
        writes += 1
        bad = [f"{k}={v!r}" for k, (v, good) in checks.items() if not good]
        ctx.say(
            f"{what}: " + ("server-side values kept" if not bad else "; ".join(bad))
        )
        wrong.extend(f"{what}: {b}" for b in bad)

    # 1. promotion request creation (API)
    extra = {
        "status": "applied",
        "approved_by": admin.pk,
        "approvals": [{"approver": "admin", "decision": "approve"}],
        "requester": "admin",
        "created_at": PAST,
        "expires_at": FUTURE,
        "decided_at": PAST,
        "model_version": 99,
        "kind": "emergency_rollback",
        "checks_status": "passed",
        "evidence_digest": "0" * 64,
        "policy": 1,
        "id": 1,
        "apply_attempts": 7,
    }
    rid = open_staging_request(ctx, **extra)
    r = PromotionRequest.objects.select_related("requester", "model_version").get(
        pk=rid
    )
    verify(
        f"POST /api/governance/requests/ with {len(extra)} extra fields",
        {
            "status": (r.status, r.status == "pending"),
            "requester": (r.requester.username, r.requester.username == alice),
            "created_at": (r.created_at, r.created_at >= started),
            "expires_at": (r.expires_at, r.expires_at.year < 2999),
            "decided_at": (r.decided_at, r.decided_at is None),
            "version": (r.model_version.version, r.model_version.version == 1),
            "kind": (r.kind, r.kind == "promotion"),
            "approvals": (r.approvals.count(), r.approvals.count() == 0),
            "id": (r.pk, r.pk != 1),
            "apply_attempts": (r.apply_attempts, r.apply_attempts == 0),
        },
    )

    # 2. reject with extra fields (staging approver)
    answer = ctx.request(
        "POST",
        f"/api/governance/requests/{rid}/reject/",
        role="staging_approver",
        body={
            "comment": "mass assignment",
            "status": "applied",
            "decision": "approve",
            "approver": "admin",
            "created_at": PAST,
        },
    )
    r.refresh_from_db()
    decision = (
        Approval.objects.filter(request_id=rid).select_related("approver").first()
    )
    verify(
        f"POST .../{rid}/reject/ with status/decision/approver ({answer.status})",
        {
            "status": (r.status, answer.status == 200 and r.status == "rejected"),
            "approver": (
                decision and decision.approver.username,
                decision is not None
                and decision.approver.username
                == ctx.accounts["staging_approver"].username,
            ),
            "decision": (
                decision and decision.decision,
                decision and decision.decision == "reject",
            ),
            "created_at": (
                decision and decision.created_at,
                decision and decision.created_at >= started,
            ),
        },
    )

    # 3. cancel with extra fields (requester)
    rid2 = open_staging_request(ctx)
    answer = ctx.request(
        "POST",
        f"/api/governance/requests/{rid2}/cancel/",
        role="requester",
        body={"reason": "mass assignment", "status": "applied", "decided_at": PAST},
    )
    r2 = PromotionRequest.objects.get(pk=rid2)
    verify(
        f"POST .../{rid2}/cancel/ with status/decided_at ({answer.status})",
        {
            "status": (r2.status, r2.status == "cancelled"),
            "decided_at": (
                r2.decided_at,
                r2.decided_at is None or r2.decided_at >= started,
            ),
        },
    )

    # 4. the admin's request form (session, CSRF token) with extra fields
    name = spare_model(ctx, f"check-{uuid.uuid4().hex[:8]}")
    ctx.request("GET", "/api/governance/models/", role="viewer")  # sync the model
    from governance.services.requests import model_sync_quietly

    model_sync_quietly(name=name)
    mv = ModelVersion.objects.get(registered_model__name=name, version=1)
    browser = Browser(ctx)
    browser.login("requester")
    page = browser.send(
        "POST",
        "/admin/governance/promotionrequest/add/",
        form={
            "model_version": mv.pk,
            "target": "staging",
            "justification": "mass assignment via the admin",
            "status": "applied",
            "requester": admin.pk,
            "kind": "emergency_rollback",
            "created_at": PAST,
        },
    )
    r3 = (
        PromotionRequest.objects.filter(model_version=mv)
        .select_related("requester")
        .order_by("-pk")
        .first()
    )
    verify(
        f"admin add form with status/requester/kind ({page.status})",
        {
            "created": (r3 is not None, r3 is not None),
            "status": (r3 and r3.status, r3 is not None and r3.status == "pending"),
            "requester": (
                r3 and r3.requester.username,
                r3 is not None and r3.requester.username == alice,
            ),
            "kind": (r3 and r3.kind, r3 is not None and r3.kind == "promotion"),
            "created_at": (
                r3 and r3.created_at,
                r3 is not None and r3.created_at >= started,
            ),
        },
    )
    if r3 is not None:
        ctx.request(
            "POST",
            f"/api/governance/requests/{r3.pk}/cancel/",
            role="requester",
            body={"reason": "done"},
        )

    # 5. feedback with an owner, a timestamp and another prediction
    mine = ctx.predict(["mass assignment one"]).json()["predictions"][0][
        "prediction_id"
    ]
    theirs = ctx.predict(["mass assignment two"], role="api_client_2").json()[
        "predictions"
    ][0]["prediction_id"]
    client_2 = User.objects.get(username=ctx.accounts["api_client_2"].username)
    answer = ctx.request(
        "POST",
        f"/api/v1/predictions/{mine}/feedback",
        role="api_client",
        body={
            "label": "spam",
            "client": client_2.pk,
            "client_id": client_2.pk,
            "prediction_id": theirs,
            "prediction": theirs,
            "created_at": PAST,
            "status": "unchanged",
        },
    )
    stored = (
        Feedback.objects.filter(prediction__prediction_id=mine)
        .select_related("client")
        .first()
    )
    on_theirs = Feedback.objects.filter(prediction__prediction_id=theirs).count()
    verify(
        f"POST feedback with client/prediction/created_at ({answer.status})",
        {
            "stored": (stored is not None, stored is not None),
            "client": (
                stored and stored.client.username,
                stored is not None
                and stored.client.username == ctx.accounts["api_client"].username,
            ),
            "created_at": (
                stored and stored.created_at,
                stored is not None and stored.created_at >= started,
            ),
            "other prediction labelled": (on_theirs, on_theirs == 0),
        },
    )

    # 6. predict with a version, an alias and a client in the body
    answer = ctx.request(
        "POST",
        "/api/v1/models/sms-spam/predict",
        role="api_client",
        body={
            "inputs": [{"message": "hi"}],
            "model_version": 99,
            "client": client_2.pk,
        },
    )
    verify(
        "POST predict with model_version/client in the body",
        {"refused (4xx)": (answer.status, 400 <= answer.status < 500)},
    )

    # 7. batch job with status, owner, output path, version and id
    job_id = str(uuid.uuid4())
    body, content_type = multipart(
        {
            "model": "sms-spam",
            "status": "succeeded",
            "client": str(client_2.pk),
            "output_path": "/etc/passwd",
            "model_version": "99",
            "id": job_id,
            "rows_total": "5",
            "created_at": PAST,
        },
        {"file": ("in.csv", b"message\nhello\n")},
    )
    answer = ctx.request(
        "POST",
        "/api/v1/batch-jobs",
        role="api_client",
        body=body,
        headers={"Content-Type": content_type},
    )
    job = (
        BatchJob.objects.filter(pk=answer.json().get("id"))
        .select_related("client")
        .first()
        if answer.status == 202
        else None
    )
    verify(
        f"POST batch job with status/client/output_path/id ({answer.status})",
        {
            "created": (answer.status, job is not None),
            "id": (job and str(job.pk), job is not None and str(job.pk) != job_id),
            "client": (
                job and job.client.username,
                job is not None
                and job.client.username == ctx.accounts["api_client"].username,
            ),
            "status": (
                answer.json().get("status"),
                answer.json().get("status") in ("pending", "running"),
            ),
            "output_path": (
                job and job.output_path,
                job is not None and job.output_path != "/etc/passwd",
            ),
            "model_version": (
                job and job.model_version,
                job is not None and job.model_version != 99,
            ),
            "created_at": (
                job and job.created_at,
                job is not None and job.created_at >= started,
            ),
        },
    )

    ctx.figure("writes with extra fields", writes)
    ctx.figure("client-chosen values stored", len(wrong), not wrong)
