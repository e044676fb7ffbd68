"""Deploy check: Django's deployment checks pass on production settings, and the
live server sends the security headers and cookie flags they promise."""

from __future__ import annotations

import subprocess

from tests.reliability.stack import PYTHON, ROOT
from tests.reliability.web import HTTPS, Browser

NUMBER = 1
TITLE = "Deploy check: settings, security headers, error pages, hosts, cookies"
FAST = True

DEBUG_MARKERS = (
    b"Traceback",
    b"DEBUG = True",
    b"URLconf defined in",
    b"Django tried these URL patterns",
    b"settings.py",
    b"Request Method:",
    b"technical_500",
)
HEADERS = {
    "x-frame-options": lambda v: v == "DENY",
    "x-content-type-options": lambda v: v == "nosniff",
    "strict-transport-security": lambda v: (
        "max-age=" in v and int(v.split("max-age=")[1].split(";")[0]) >= 31_536_000
    ),
}


def _deploy_check(ctx) -> None:
    result = subprocess.run(
        [PYTHON, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        # the loopback stack turns the HTTPS redirect off (no proxy in front);
        # a deployment keeps the production default, which is what is checked
        env=ctx.stack.env(DJANGO_SECURE_SSL_REDIRECT="true"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = (result.stdout + result.stderr).strip()
    ctx.say(
        "manage.py check --deploy --fail-level WARNING "
        "(production settings, SECURE_SSL_REDIRECT at its default):"
    )
    for line in output.splitlines()[-8:]:
        ctx.say(f"  | {line}")
    ctx.figure("check --deploy exit code", result.returncode, result.returncode == 0)


def _security_headers(ctx) -> None:
    probes = [
        ("GET", "/accounts/login/", None),
        ("GET", "/health/live", None),
        ("GET", "/api/governance/models/", "viewer"),
        ("POST", "/api/v1/models/sms-spam/predict", "api_client"),
        ("GET", "/no-such-page/", None),
    ]
    missing = []
    for method, path, role in probes:
        body = {"inputs": [{"message": "hello"}]} if method == "POST" else None
        response = ctx.request(method, path, role=role, body=body, headers=HTTPS)
        for name, good in HEADERS.items():
            value = response.headers.get(name, "")
            if not value or not good(value):
                missing.append(f"{method} {path} ({response.status}): {name}={value!r}")
    for line in missing:
        ctx.say(f"  bad header: {line}")
    sample = ctx.request("GET", "/accounts/login/", headers=HTTPS).headers
    for name in HEADERS:
        ctx.say(f"{name}: {sample.get(name)}")
    ctx.figure(
        f"responses missing a security header (of {len(probes)})",
        len({m.split(" (")[0] for m in missing}),
        not missing,
    )


def _error_pages(ctx) -> None:
    leaks = []
    statuses = []
    for path, role in [
        ("/no-such-page/", None),
        ("/static/no-such-file.css", None),
        ("/api/v1/predictions/00000000-0000-0000-0000-000000000000", "api_client"),
        ("/api/no-such-endpoint", "api_client"),
        ("/admin/no-such-admin-page/", None),
    ]:
        response = ctx.request("GET", path, role=role, headers=HTTPS)
        statuses.append(f"{path} {response.status}")
        found = [m.decode() for m in DEBUG_MARKERS if m in response.body]
        if found or response.status >= 500:
            leaks.append(f"{path}: {response.status} {found}")
    ctx.say("404 probes: " + ", ".join(statuses))
    not_found = ctx.request("GET", "/no-such-page/", headers=HTTPS)
    ctx.figure("plain 404 status", not_found.status, not_found.status == 404)
    ctx.figure("error pages with debug details", len(leaks), not leaks)
    for leak in leaks:
        ctx.say(f"  leak: {leak}")


def _unknown_host(ctx) -> None:
    statuses = {}
    for host in ("evil.example.com", "127.0.0.1.evil.com", "localhost:1@evil"):
        response = ctx.request("GET", "/health/live", headers={"Host": host, **HTTPS})
        statuses[host] = response.status
        if b"Traceback" in response.body or b"DisallowedHost" in response.body:
            statuses[host] = f"{response.status} with debug text"
    ctx.say(f"unknown Host headers: {statuses}")
    ctx.figure(
        "unknown Host answers that are not 400",
        sum(1 for s in statuses.values() if s != 400),
        all(s == 400 for s in statuses.values()),
    )


def _cookies(ctx) -> None:
    ctx.orm()
    from django.conf import settings

    browser = Browser(ctx)
    login_page = browser.send("GET", "/accounts/login/")
    answer = browser.login("viewer")
    cookies = {c.name: c for c in login_page.set_cookies + answer.set_cookies}
    wanted = {
        settings.SESSION_COOKIE_NAME: (
            settings.SESSION_COOKIE_SECURE,
            settings.SESSION_COOKIE_HTTPONLY,
            settings.SESSION_COOKIE_SAMESITE,
        ),
        settings.CSRF_COOKIE_NAME: (
            settings.CSRF_COOKIE_SECURE,
            settings.CSRF_COOKIE_HTTPONLY,
            settings.CSRF_COOKIE_SAMESITE,
        ),
    }
    wrong = []
    for name, (secure, httponly, samesite) in wanted.items():
        cookie = cookies.get(name)
        if cookie is None:
            wrong.append(f"{name}: not set")
            continue
        got = (
            "secure" in cookie.attributes,
            "httponly" in cookie.attributes,
            cookie.attributes.get("samesite", ""),
        )
        ctx.say(
            f"cookie {name}: Secure={got[0]} HttpOnly={got[1]} SameSite={got[2]} "
            f"(settings: {secure}, {httponly}, {samesite})"
        )
        if got[0] is not True or got[0] != secure or got[1] != httponly:
            wrong.append(f"{name}: flags {got}")
        if (got[2] or "").lower() != str(samesite).lower():
            wrong.append(f"{name}: SameSite {got[2]!r}")
    ctx.figure("cookies with wrong Secure/HttpOnly/SameSite", len(wrong), not wrong)
    for line in wrong:
        ctx.say(f"  wrong: {line}")


def run(ctx) -> None:
    _deploy_check(ctx)
    _security_headers(ctx)
    _error_pages(ctx)
    _unknown_host(ctx)
    _cookies(ctx)
