"""Helpers of the failure drills (checks 6 and 10–16): the aliases as the
MLflow server reports them, the promotion workflow through the live API, admin
sessions, monitors and report windows, the mail sink, load warm-up.

Everything here acts on the live stack: HTTP to gunicorn, the MLflow server,
the stack's database through the runner's ORM (``ctx.orm()`` first).
"""

from __future__ import annotations

import contextlib
import email
import re
import secrets
import subprocess
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tests.reliability.base import Account, CheckFailed, Response
from tests.reliability.stack import PYTHON, ROOT

__all__ = ["CheckFailed"]

API = "/api/governance"
SOURCE_MODEL = "sms-spam"  # new test models are copies of its version 1


# ------------------------------------------------------------------ MLflow
def mlflow_client(ctx):
    """A client of the stack's MLflow server (service account credentials)."""
    import mlflow

    return mlflow.MlflowClient(
        tracking_uri=ctx.stack.mlflow_url, registry_uri=ctx.stack.mlflow_url
    )


def mlflow_aliases(ctx, name: str) -> dict[str, int]:
    """The aliases of ``name`` as the MLflow server itself reports them now."""
    model = mlflow_client(ctx).get_registered_model(name)
    return {alias: int(version) for alias, version in model.aliases.items()}


def register_copy(ctx, name: str, *, source: str = SOURCE_MODEL) -> int:
    """Register a new version of ``name`` made of ``source`` v1's run and
    artifacts (same metrics, signature and data fingerprint); returns it."""
    ctx.orm()
    from core import registry
    from governance.services import registered_model_sync

    original = registry.version_get(source, 1)
    version = registry.version_register(
        name=name,
        model_uri=original.source,
        run_id=original.run_id,
        tags=dict(original.tags),
    )
    registered_model_sync(name=name)
    return int(version.version)


def new_model(ctx, prefix: str) -> str:
    """A registered model of its own for one check, with version 1."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    register_copy(ctx, name)
    return name


# ---------------------------------------------------------------- accounts
def make_user(ctx, username: str, roles: list[str], *, staff: bool = True) -> Account:
    """A user with these role groups, a password and an API token."""
    ctx.orm()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from rest_framework.authtoken.models import Token

    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(
        username=username, defaults={"email": f"{username}@example.com"}
    )
    password = secrets.token_urlsafe(12)
    user.set_password(password)
    user.is_staff = staff
    user.save()
    user.groups.set(Group.objects.filter(name__in=roles))
    token, _ = Token.objects.get_or_create(user=user)
    account = Account(username, password, token.key)
    ctx.accounts[username] = account
    return account


def alerts_resolve(ctx, name: str) -> int:
    """Resolve ``name``'s active alerts as monitoring does when their rule
    stops firing: the reports of earlier drills (fuzzed and outage traffic)
    open drift alerts that would block a production promotion through the
    "no open drift alert" check. Returns how many were resolved."""
    ctx.orm()
    from django.utils import timezone

    from monitoring.choices import ACTIVE_ALERT_STATUSES
    from monitoring.models import Alert
    from monitoring.services.alerts import alert_resolve

    rules = {
        a.rule
        for a in Alert.objects.filter(
            model_name=name, status__in=ACTIVE_ALERT_STATUSES
        ).select_related("rule__monitor")
    }
    return sum(alert_resolve(rule=rule, now=timezone.now()) for rule in rules)


@contextlib.contextmanager
def production_without_staging_wait(ctx, **extra):
    """The active production policy with its minimum time in staging set to 0
    (and the ``extra`` rules; a policy change by the admin, audited), restored
    afterwards. Lets a check take a fresh version to production in seconds."""
    ctx.orm()
    from django.contrib.auth import get_user_model

    from governance.selectors import policy_active
    from governance.services.policies import policy_update

    admin = get_user_model().objects.get(username=ctx.accounts["admin"].username)
    wanted = {"min_staging_minutes": 0, **extra}
    active = policy_active(target="production")
    before = {key: getattr(active, key) for key in wanted}
    changed = before != wanted
    if changed:
        policy_update(
            user=admin, target="production", changes=wanted, via="reliability"
        )
    try:
        yield
    finally:
        if changed:
            policy_update(
                user=admin, target="production", changes=before, via="reliability"
            )


# ---------------------------------------------------------------- workflow
def request_create(
    ctx, name: str, version: int, target: str, role: str = "requester"
) -> dict:
    response = ctx.request(
        "POST",
        f"{API}/requests/",
        role=role,
        body={
            "model": name,
            "version": version,
            "target": target,
            "justification": f"reliability check: {name} v{version} to {target}",
        },
    )
    ctx.expect(
        response.status == 201,
        f"creating the {target} request of {name} v{version} answered "
        f"{response.status}: {response.body[:300]!r}",
    )
    return response.json()


def request_get(ctx, request_id: int) -> dict:
    response = ctx.request("GET", f"{API}/requests/{request_id}/", role="admin")
    ctx.expect(response.status == 200, f"GET request #{request_id}: {response.status}")
    return response.json()


def wait_checks(ctx, request_id: int, timeout: float = 90) -> dict:
    """Wait for the worker to run the request's checks; they must pass."""

    def done():
        body = request_get(ctx, request_id)
        return body if body["checks_status"] not in ("pending", "running") else None

    body = ctx.wait(done, f"the checks of request #{request_id}", timeout)
    if body["checks_status"] != "passed":
        failed = [
            f"{c.get('label')}: {c.get('detail')}"
            for c in body.get("evidence", {}).get("checks", [])
            if c.get("outcome") == "failed"
        ]
        raise CheckFailed(f"checks of request #{request_id} did not pass: {failed}")
    return body


def wait_status(
    ctx, request_id: int, statuses: tuple[str, ...], timeout: float = 90
) -> dict:
    def done():
        body = request_get(ctx, request_id)
        return body if body["status"] in statuses else None

    return ctx.wait(done, f"request #{request_id} to become {statuses}", timeout)


def approve(ctx, request_id: int, role: str, **body) -> Response:
    return ctx.request(
        "POST", f"{API}/requests/{request_id}/approve/", role=role, body=body or {}
    )


def approve_ok(ctx, request_id: int, role: str) -> dict:
    response = approve(ctx, request_id, role)
    ctx.expect(
        response.status == 200,
        f"{role} approving request #{request_id} answered {response.status}: "
        f"{response.body[:300]!r}",
    )
    return response.json()


def error_code(response: Response) -> str:
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return ""


def promote(ctx, name: str, version: int, target: str) -> dict:
    """Take ``name`` v``version`` to ``target`` through the live API: the
    requester asks, the checks pass, the policy's approvers approve; returns
    the applied request."""
    created = request_create(ctx, name, version, target)
    wait_checks(ctx, created["id"])
    approvers = (
        ["staging_approver"]
        if target == "staging"
        else ["production_approver", "production_approver_2"]
    )
    for role in approvers:
        approve_ok(ctx, created["id"], role)
    body = wait_status(ctx, created["id"], ("applied", "apply_failed"))
    ctx.expect(
        body["status"] == "applied",
        f"request #{created['id']} ended {body['status']}: {body['apply_error']}",
    )
    return body


def events(request_id: int, kind: str):
    from governance.models import AuditEvent

    return AuditEvent.objects.filter(request_ref=request_id, kind=kind)


# ------------------------------------------------------------- admin pages
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@dataclass
class AdminSession:
    """A browser-like session on the admin: cookies and CSRF tokens."""

    ctx: object
    cookies: dict[str, str] = field(default_factory=dict)

    def _send(self, method: str, path: str, form: dict | list | None = None):
        headers = {}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        response = self.ctx.request(method, path, body=body, headers=headers)
        self.cookies.update(response.cookies)
        return response

    def get(self, path: str) -> Response:
        return self._send("GET", path)

    def post(self, path: str, form: dict) -> Response:
        """POST a form with the CSRF token of the page at ``path``."""
        page = self.get(path)
        found = CSRF_FIELD.search(page.body.decode("utf-8", "replace"))
        token = found.group(1) if found else self.cookies.get("csrftoken", "")
        return self._send("POST", path, {**form, "csrfmiddlewaretoken": token})

    def login(self, account: Account) -> AdminSession:
        response = self.post(
            "/admin/login/?next=/admin/",
            {
                "username": account.username,
                "password": account.password,
                "next": "/admin/",
            },
        )
        self.ctx.expect(
            response.status == 302,
            f"admin login of {account.username} answered {response.status}",
        )
        return self


# -------------------------------------------------------------- monitoring
def make_monitor(ctx, prefix: str, **fields):
    """A monitor of breast-cancer v1 of its own (no alert rules), whose digests
    go to an address of its own."""
    ctx.orm()
    from monitoring.models import Monitor

    tag = f"{prefix}-{uuid.uuid4().hex[:6]}"
    values = {
        "name": f"reliability {tag}",
        "model_name": "breast-cancer",
        "model_version": 1,
        "window_minutes": 60,
        "min_rows": 50,
        "html_report": False,
        "recipients": f"{tag}@example.com",
    }
    values.update(fields)
    return Monitor.objects.create(**values)


def hour_window(hours_ago: int) -> tuple[datetime, datetime]:
    """The whole UTC hour that ended ``hours_ago - 1`` hours ago."""
    from django.utils import timezone

    from monitoring.calculations.windows import last_complete_window

    start, end = last_complete_window(timezone.now(), 60)
    shift = timedelta(hours=hours_ago - 1)
    return start - shift, end - shift


def log_window(ctx, *, start, end, rows: int, seed: int, shift=None) -> None:
    """Prediction-log rows of breast-cancer v1 spread over the window (the
    reference sample resampled; ``shift`` moves columns by that many SDs)."""
    ctx.orm()
    from monitoring.models import Monitor
    from monitoring.services.monitors import monitor_target, reference_sample_load
    from tests.monitoring.factories import log_rows, window_frame

    target = monitor_target(monitor=Monitor(model_name="breast-cancer"), version=1)
    reference = reference_sample_load(target=target)
    frame = window_frame(reference, rows, shift=shift, seed=seed)
    log_rows(frame, model_name="breast-cancer", version=1, start=start, end=end)


def report_request(ctx, monitor_id: int, start, end, role: str = "ops") -> Response:
    return ctx.request(
        "POST",
        f"/api/monitoring/monitors/{monitor_id}/reports/",
        role=role,
        body={"window_start": start.isoformat(), "window_end": end.isoformat()},
    )


def digests_to(ctx, address: str) -> list[str]:
    """Subjects of the report digests the SMTP sink received for ``address``
    (alert notifications excluded)."""
    folder = ctx.stack.maildir / "new"
    subjects = []
    if not folder.exists():
        return subjects
    for path in folder.iterdir():
        message = email.message_from_bytes(path.read_bytes())
        to = " ".join(message.get_all("To", []) + message.get_all("X-RcptTo", []))
        subject = str(message.get("Subject", ""))
        if address in to and " opened: " not in subject:
            subjects.append(subject)
    return subjects


def quiet(predicate, seconds: float, timeout: float) -> None:
    """Wait until ``predicate()`` keeps the same value for ``seconds``."""
    deadline = time.monotonic() + timeout
    last, since = object(), time.monotonic()
    while time.monotonic() < deadline:
        value = predicate()
        if value != last:
            last, since = value, time.monotonic()
        elif time.monotonic() - since >= seconds:
            return
        time.sleep(0.5)


# ------------------------------------------------------------------ misc
def manage_result(ctx, *args: str) -> subprocess.CompletedProcess:
    """Run a management command against the stack; never raises on failure."""
    return subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=ctx.stack.env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def at_once(*calls):
    """Run the calls in threads released together; returns results/exceptions."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        except Exception as exc:  # noqa: BLE001 - reported to the caller
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def warm_up(ctx, concurrency: int = 8, rounds: int = 10) -> float:
    """Make every gunicorn worker load sms-spam@production before a check
    measures (a worker that booted before the model was registered loads it on
    its first request). Returns the seconds it took."""
    started = time.monotonic()

    def one():
        began = time.monotonic()
        status = ctx.predict(["warm-up"], timeout=180).status
        return status, time.monotonic() - began

    for _ in range(rounds):
        results = at_once(*[one] * concurrency)
        answers = [r for r in results if not isinstance(r, Exception)]
        if len(answers) == concurrency and all(
            status == 200 and seconds < 2 for status, seconds in answers
        ):
            break
    return time.monotonic() - started


def load_times(ctx, name: str, version: int) -> list[float]:
    """Seconds each web worker took to load ``name`` v``version`` (its log)."""
    pattern = re.compile(rf"\bloaded {re.escape(name)} v{version} in ([0-9.]+)s")
    text = (ctx.stack.logs / "web.log").read_text(errors="replace")
    return [float(m.group(1)) for m in pattern.finditer(text)]
