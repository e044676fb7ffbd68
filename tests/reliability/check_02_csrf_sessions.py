"""CSRF and sessions: a session-authenticated approve or reject without the
CSRF token is refused (403) and changes nothing; the session key changes at
login (no fixation); logout ends the session for good."""

from __future__ import annotations

from tests.reliability.helpers import open_staging_request
from tests.reliability.web import Browser

NUMBER = 2
TITLE = "CSRF and sessions"
FAST = False


def _state(request_id: int) -> tuple:
    from governance.models import Approval, AuditEvent, PromotionRequest

    request = PromotionRequest.objects.get(pk=request_id)
    return (
        request.status,
        Approval.objects.filter(request_id=request_id).count(),
        AuditEvent.objects.filter(request_ref=request_id)
        .exclude(kind="denied")
        .count(),
    )


def _csrf(ctx, request_id: int) -> None:
    browser = Browser(ctx)
    browser.login("staging_approver")
    api = f"/api/governance/requests/{request_id}"
    admin_page = f"/admin/governance/promotionrequest/{request_id}/change/"
    control = browser.send("GET", f"{api}/")
    ctx.expect(control.status == 200, f"GET {api}/ with the session: {control.status}")
    before = _state(request_id)
    same_origin = {"Origin": "https://127.0.0.1", "Referer": "https://127.0.0.1/"}
    attempts = [
        # what, path, headers (the session cookie goes with every one)
        ("approve, no token", f"{api}/approve/", {}),
        ("reject, no token", f"{api}/reject/", {}),
        (
            "approve, made-up token",
            f"{api}/approve/",
            {"X-CSRFToken": "x" * 32, **same_origin},
        ),
        (
            "approve, right token, foreign Origin",
            f"{api}/approve/",
            {
                "X-CSRFToken": browser.cookies.get("csrftoken", ""),
                "Origin": "https://evil.example.com",
                "Referer": "https://evil.example.com/",
            },
        ),
    ]
    refused = 0
    for what, path, headers in attempts:
        page = browser.send(
            "POST", path, body={"comment": "csrf"}, headers=headers, csrf=False
        )
        ctx.say(f"{what}: POST {path} -> {page.status}")
        refused += page.status == 403
    for decision in ("approve", "reject"):
        page = browser.send(
            "POST",
            admin_page,
            form={"decision": decision, "comment": "csrf"},
            csrf=False,
        )
        ctx.say(
            f"admin review form {decision}, no token: "
            f"POST {admin_page} -> {page.status}"
        )
        refused += page.status == 403
    total = len(attempts) + 2
    after = _state(request_id)
    ctx.say(
        f"request #{request_id} (status, approvals, audit events): "
        f"before {before}, after {after}"
    )
    ctx.figure(
        "POSTs without a valid CSRF token refused (403)",
        f"{refused}/{total}",
        refused == total,
    )
    ctx.figure(
        "request changed by them", "no" if after == before else "YES", after == before
    )
    # control: the same session with its token reaches the action
    page = browser.send("POST", f"{api}/reject/", body={"comment": "csrf check done"})
    status = _state(request_id)[0]
    ctx.say(f"control: reject with the token -> {page.status}, request now {status}")
    ctx.figure(
        "same POST with the token",
        page.status,
        page.status == 200 and status == "rejected",
    )


def _rotation(ctx) -> None:
    from django.contrib.sessions.backends.db import SessionStore

    planted = SessionStore()
    planted["planted"] = True
    planted.create()
    browser = Browser(ctx)
    browser.cookies["sessionid"] = planted.session_key
    browser.login("viewer")
    rotated = browser.session != planted.session_key
    planted_alive = SessionStore().exists(planted.session_key)
    ctx.say(
        f"planted session {planted.session_key[:8]}… before login, "
        f"after login {browser.session[:8]}…; planted still stored: {planted_alive}"
    )
    ctx.figure("session key rotated on login", rotated, rotated and not planted_alive)
    other = Browser(ctx)
    other.login("viewer")
    ctx.figure(
        "two logins share a session key",
        other.session == browser.session,
        other.session != browser.session,
    )


def _logout(ctx) -> None:
    from django.contrib.sessions.backends.db import SessionStore

    browser = Browser(ctx)
    browser.login("viewer")
    old = dict(browser.cookies)
    old_key = old["sessionid"]
    before = browser.send("GET", "/api/governance/requests/")
    ctx.expect(
        before.status == 200,
        f"signed in, GET /api/governance/requests/: {before.status}",
    )
    out = browser.send("POST", "/accounts/logout/")
    ctx.say(f"POST /accounts/logout/ -> {out.status} {out.location}")
    replay = Browser(ctx, cookies=dict(old))  # the old cookie, kept by an attacker
    api = replay.send("GET", "/api/governance/requests/")
    page = replay.send("GET", "/registry/")
    stored = SessionStore().exists(old_key)
    ctx.say(
        f"old cookie after logout: API {api.status}, page {page.status} "
        f"{page.location}; session stored: {stored}"
    )
    dead = api.status in (401, 403) and page.status == 302 and "login" in page.location
    ctx.figure(
        "old session cookie authenticates after logout", not dead, dead and not stored
    )


def run(ctx) -> None:
    ctx.orm()
    request_id = open_staging_request(ctx)
    _csrf(ctx, request_id)
    _rotation(ctx)
    _logout(ctx)
