"""Check 3's machinery: every URL route of the project from Django's resolver,
the objects each route points at on the live stack, and one request per
route × method × role against gunicorn.

Outcomes (as in ``tests/governance/test_authorization_matrix.py``): ``allow``
(reached the action: any status but 401/403/405/5xx and not a redirect to a
login page), ``deny`` (401/403), ``login`` (a redirect to a login page),
``405``, and ``5xx`` (never expected).

Writes are aimed so that an allowed request cannot change what later checks
rely on: approvals and cancellations at a request that is no longer pending,
rollbacks of a model that does not exist, new requests for a version that does
not exist, admin forms posted empty. A refusal is the same 401/403 either way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tests.reliability.web import HTTPS, Browser, upload_batch

ROLES = (
    "anonymous",
    "viewer",
    "requester",
    "staging_approver",
    "production_approver",
    "production_approver_2",
    "ops",
    "admin",
    "api_client",
    "api_client_2",
)
API_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
PAGE_METHODS = ("GET", "POST")
# Routes that end the session: each of their cases gets a fresh login.
LOGOUT_ROUTES = {"logout", "admin:logout"}
MISSING_UUID = "00000000-0000-4000-8000-000000000000"


@dataclass(frozen=True)
class Route:
    key: str  # "namespace:name", or "namespace:pattern" for unnamed routes
    pattern: str
    api: bool  # a DRF view: token auth, every method probed

    @property
    def methods(self) -> tuple[str, ...]:
        return API_METHODS if self.api else PAGE_METHODS


def routes() -> list[Route]:
    """Every route of ROOT_URLCONF (Django must be set up)."""
    from django.urls import URLPattern, URLResolver, get_resolver
    from rest_framework.views import APIView

    found: list[Route] = []

    def walk(patterns, prefix: str, namespace: str | None) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(
                    entry.url_patterns,
                    prefix + str(entry.pattern),
                    entry.namespace or namespace,
                )
            elif isinstance(entry, URLPattern):
                pattern = prefix + str(entry.pattern)
                label = entry.name or pattern
                key = f"{namespace}:{label}" if namespace else label
                view_class = getattr(entry.callback, "cls", None) or getattr(
                    entry.callback, "view_class", None
                )
                is_api = isinstance(view_class, type) and issubclass(
                    view_class, APIView
                )
                found.append(Route(key, pattern, is_api))

    walk(get_resolver().url_patterns, "/", None)
    return found


# ------------------------------------------------------------------- objects
def _first_pk(model, fallback="999999"):
    row = model.objects.order_by("pk").values_list("pk", flat=True).first()
    if row is not None:
        return str(row)
    field = model._meta.pk
    return MISSING_UUID if field.get_internal_type() == "UUIDField" else fallback


def _seed(ctx) -> None:
    """A row for every admin page and object route: a prediction with its
    stored response, feedback given twice, a refused request, a batch job, a
    webhook delivery, a resolved alert on no real model, a clocked schedule."""
    from django.utils import timezone
    from django_celery_beat.models import (
        ClockedSchedule,
        IntervalSchedule,
        SolarSchedule,
    )

    from governance.models import WebhookDelivery
    from inference.models import PrecomputedPrediction
    from monitoring.choices import AlertStatus, ReportStatus, RuleKind, Severity
    from monitoring.models import Alert, AlertRule, Monitor, ReferenceStatistics, Report
    from trainer.choices import RetrainingTrigger, RunStatus
    from trainer.models import RetrainingPolicy, RetrainingRun

    answer = ctx.predict(["authorization matrix"])
    ctx.expect(answer.status == 200, f"seed prediction answered {answer.status}")
    prediction = answer.json()["predictions"][0]["prediction_id"]
    for label in ("ham", "spam"):
        ctx.request(
            "POST",
            f"/api/v1/predictions/{prediction}/feedback",
            role="api_client",
            body={"label": label},
        )
    ctx.request("POST", "/api/v1/models/sms-spam/predict", role="api_client", body={})
    upload_batch(ctx, "api_client", ["hello", "win a prize"])
    now = timezone.now()
    WebhookDelivery.objects.get_or_create(
        delivery_id="authz-matrix",
        defaults={
            "entity": "model_version",
            "action": "created",
            "model_name": "authz-matrix",
            "sent_at": now,
            "payload": {},
        },
    )
    monitor = Monitor.objects.order_by("pk").first()
    if monitor is not None and not Alert.objects.exists():
        rule, _ = AlertRule.objects.get_or_create(
            monitor=monitor, kind=RuleKind.NO_TRAFFIC, defaults={"minutes": 60}
        )
        Alert.objects.create(
            rule=rule,
            monitor=monitor,
            model_name="authz-matrix",
            severity=Severity.INFO,
            status=AlertStatus.RESOLVED,
            title="authorization matrix (resolved)",
            opened_at=now,
            last_seen_at=now,
        )
    if not ClockedSchedule.objects.exists():
        ClockedSchedule.objects.create(clocked_time=now)
    if not SolarSchedule.objects.exists():
        SolarSchedule.objects.create(event="sunrise", latitude=0, longitude=0)
    if not IntervalSchedule.objects.exists():
        IntervalSchedule.objects.create(every=1, period=IntervalSchedule.DAYS)
    # rows of a model nothing serves or schedules: a disabled policy, a
    # failed run, an entry of a version no alias points at, one statistics row
    policy, _ = RetrainingPolicy.objects.get_or_create(
        model_name="authz-matrix", defaults={"enabled": False}
    )
    RetrainingRun.objects.get_or_create(
        policy=policy,
        trigger_key="authz-matrix",
        defaults={
            "model_name": "authz-matrix",
            "trigger": RetrainingTrigger.MANUAL,
            "status": RunStatus.ERROR,
        },
    )
    PrecomputedPrediction.objects.get_or_create(
        model_name="authz-matrix",
        model_version=1,
        key="authz-matrix",
        defaults={
            "inputs": {},
            "inputs_hash": "0" * 64,
            "prediction": "ham",
            "computed_at": now - timedelta(hours=1),
            "expires_at": now,
        },
    )
    ReferenceStatistics.objects.get_or_create(
        model_name="authz-matrix",
        model_version=1,
        config_key="authz-matrix",
        defaults={"statistics": {}},
    )
    if monitor is not None and not Report.objects.exists():
        # a finished job of a long-past window: nothing will pick it up
        start = datetime(2000, 1, 1, tzinfo=UTC)
        Report.objects.create(
            monitor=monitor,
            key="authz-matrix",
            window_start=start,
            window_end=start + timedelta(hours=1),
            model_name="authz-matrix",
            status=ReportStatus.FAILED,
        )


def world(ctx) -> dict:
    """Ids on the live stack the routes point at (Django set up)."""
    from django.contrib import admin
    from django.contrib.auth import get_user_model
    from django.contrib.contenttypes.models import ContentType

    from governance.choices import RequestStatus
    from governance.models import PromotionRequest
    from inference.models import BatchJob, PredictionLog
    from monitoring.models import Alert, Monitor, Report

    _seed(ctx)
    User = get_user_model()
    client = User.objects.get(username=ctx.accounts["api_client"].username)
    applied = PromotionRequest.objects.filter(
        registered_model__name="sms-spam", status=RequestStatus.APPLIED
    )
    staging = applied.filter(target="staging").order_by("pk").first()
    production = applied.filter(target="production").order_by("pk").first()
    ctx.expect(
        staging is not None and production is not None,
        "sms-spam has no applied staging and production requests",
    )
    prediction = (
        PredictionLog.objects.filter(client=client)
        .values_list("prediction_id", flat=True)
        .first()
    )
    job = BatchJob.objects.filter(client=client).values_list("pk", flat=True).first()
    monitor = Monitor.objects.filter(model_name="sms-spam").order_by("pk").first()
    admin_objects = {
        f"{m._meta.app_label}_{m._meta.model_name}": _first_pk(m)
        for m in admin.site._registry
    }
    # the token admin addresses a token by its user
    admin_objects["authtoken_tokenproxy"] = str(client.pk)
    user_ct = ContentType.objects.get_for_model(User)
    return {
        "staging_request": str(staging.pk),
        "production_request": str(production.pk),
        "prediction": str(prediction or MISSING_UUID),
        "job": str(job or MISSING_UUID),
        "monitor": str(monitor.pk if monitor else 999999),
        "report": _first_pk(Report),
        "alert": _first_pk(Alert),
        "admin": admin_objects,
        "content_type": str(user_ct.pk),
        "admin_user": str(User.objects.get(username="admin").pk),
    }


def url_of(route: Route, w: dict) -> str:
    """A concrete URL of ``route`` on the live stack."""
    if route.key == "admin:app_list":
        return "/admin/governance/"
    if route.key.startswith("admin:") and "(?P<url>" in route.pattern:
        return "/admin/no-such-admin-page/"
    pattern = route.pattern
    if route.key.startswith("admin:"):
        match = re.match(r"^/admin/(\w+)/(\w+)/", pattern)
        if match:
            obj = w["admin"].get(f"{match.group(1)}_{match.group(2)}", "999999")
            pattern = pattern.replace("<path:object_id>", obj)
        pattern = pattern.replace("<id>", w["admin_user"])
        pattern = pattern.replace("<path:content_type_id>", w["content_type"])
        pattern = pattern.replace("<path:object_id>", w["admin_user"])
    by_route_pk = {
        # an emergency rollback is confirmed by production approvers: the
        # applied production request has the same reviewers
        "governance:api-request-confirm": w["production_request"],
        "governance:": w["staging_request"],
        "monitoring:api-report-run": w["monitor"],
        "monitoring:api-compare": w["monitor"],
        "monitoring:api-report": w["report"],
        "monitoring:report": w["report"],
        "monitoring:alert": w["alert"],
        "monitoring:api-alert": w["alert"],
    }
    pk = next((v for k, v in by_route_pk.items() if route.key.startswith(k)), "999999")
    name = "no-such-model" if "rollback" in route.key else "sms-spam"
    values = {
        "<int:pk>": pk,
        "<str:name>": name,
        "<str:alias>": "production",
        "<uuid:prediction_id>": w["prediction"],
        "<uuid:job_id>": w["job"],
    }
    for token, value in values.items():
        pattern = pattern.replace(token, value)
    if "<" in pattern or "(?P" in pattern:
        raise ValueError(f"cannot build a URL for {route.key}: {pattern}")
    return pattern


# -------------------------------------------------------------------- bodies
JSON_BODIES = {
    # governance: meaningful, but pointed where nothing can change
    "governance:api-requests": {
        "model": "sms-spam",
        "version": 999,
        "target": "staging",
        "justification": "authorization matrix",
    },
    "governance:api-request-reject": {"comment": "authorization matrix"},
    "governance:api-request-cancel": {"reason": "authorization matrix"},
    "governance:api-rollback": {"justification": "authorization matrix"},
    "governance:api-emergency-rollback": {"justification": "authorization matrix"},
}
FORM_BODIES = {
    "admin:governance_promotionrequest_change": {"decision": "approve"},
    "admin:governance_registeredmodel_change": {
        "action": "rollback",
        "justification": "authorization matrix",
    },
}


@dataclass
class Case:
    route: Route
    method: str
    role: str
    url: str
    status: int = 0
    outcome: str = ""


def outcome_of(status: int, location: str) -> str:
    if status >= 500:
        return "5xx"
    if status in (401, 403):
        return "deny"
    if status == 405:
        return "405"
    if status in (301, 302) and "login" in location:
        return "login"
    return "allow"


def _browser(ctx, role: str) -> Browser:
    browser = Browser(ctx)
    if role == "anonymous":
        browser.send("GET", "/accounts/login/")  # a CSRF cookie, as a browser has
    else:
        browser.login(role)
    return browser


def probe(ctx, cases: list[Case]) -> None:
    """Send every case to gunicorn; fills ``status`` and ``outcome``."""
    browsers = {role: _browser(ctx, role) for role in ROLES}
    ordered = sorted(cases, key=lambda c: c.route.key in LOGOUT_ROUTES)
    for case in ordered:
        route, method, role = case.route, case.method, case.role
        use_token = route.api and role != "anonymous"
        if use_token:
            response = ctx.request(
                method,
                case.url,
                role=role,
                body=JSON_BODIES.get(route.key, {}) if method != "GET" else None,
                headers=HTTPS,
            )
            status, location = response.status, response.headers.get("location", "")
        else:
            browser = (
                _browser(ctx, role) if route.key in LOGOUT_ROUTES else browsers[role]
            )
            if route.api:
                body = JSON_BODIES.get(route.key, {}) if method != "GET" else None
                page = browser.send(method, case.url, body=body)
            else:
                form = FORM_BODIES.get(route.key, {}) if method != "GET" else None
                page = browser.send(method, case.url, form=form)
            status, location = page.status, page.location
        case.status = status
        case.outcome = outcome_of(status, location)


# ------------------------------------------------------------------ the matrix
SIGNED_IN = frozenset(ROLES) - {"anonymous"}
CLIENTS = frozenset({"api_client", "api_client_2"})
# every person of the demo is staff (the admin's review queue); clients are not
STAFF = SIGNED_IN - CLIENTS
PREDICTORS = frozenset({"requester", "ops", "admin"}) | CLIENTS
OPERATORS = frozenset({"ops", "admin"})
# the pytest matrix knows one production approver and one client
ALIKE = {"production_approver_2": "production_approver", "api_client_2": "api_client"}


def by_role(allow=(), *, m405=(), login=(), rest="deny", anonymous="login"):
    """One method's expected outcome per role."""
    out = {}
    for role in ROLES:
        if role == "anonymous":
            out[role] = anonymous
        elif role in allow:
            out[role] = "allow"
        elif role in m405:
            out[role] = "405"
        elif role in login:
            out[role] = "login"
        else:
            out[role] = rest
    return out


def page(get=SIGNED_IN, post=None):
    """A page behind a login: GET by ``get``; POST by ``post`` (None: 405 for
    those who may GET)."""
    return {
        "GET": by_role(get),
        "POST": by_role(post) if post is not None else by_role(m405=get),
    }


def rest_api(allowed, methods=("GET",)):
    """A DRF endpoint whose permission class admits ``allowed`` to every method:
    they reach ``methods`` and get 405 for the others; the rest are refused."""
    return {
        m: by_role(
            allowed if m in methods else (), m405=() if m in methods else allowed
        )
        | {"anonymous": "deny"}
        for m in API_METHODS
    }


def retraining_api(read, start=None):
    """Retraining: reads by ``read`` (governance roles), a POST (start a run)
    by ``start``; the other methods do not exist (405 once signed in)."""
    table = {}
    for m in API_METHODS:
        if m == "GET":
            table[m] = by_role(read)
        elif m == "POST" and start is not None:
            table[m] = by_role(start)
        else:
            table[m] = by_role(m405=SIGNED_IN)
        table[m]["anonymous"] = "deny"
    return table


def split_api(read, write, methods=("POST",)):
    """Monitoring: reads by ``read`` roles, writes by ``write`` roles."""
    table = {}
    for m in API_METHODS:
        if m == "GET":
            table[m] = by_role(read) if m in methods else by_role(m405=read)
        else:
            table[m] = by_role(
                write if m in methods else (), m405=() if m in methods else write
            )
        table[m]["anonymous"] = "deny"
    return table


def public(methods=("GET",), api=False):
    keys = API_METHODS if api else PAGE_METHODS
    return {
        m: by_role(
            SIGNED_IN if m in methods else (),
            rest="405",
            anonymous="allow" if m in methods else "405",
        )
        for m in keys
    }


def admin_page(get=STAFF, post=None):
    """An admin page: people without staff status go to the admin login."""
    table = page(get, post)
    for outcomes in table.values():
        for role in CLIENTS:
            outcomes[role] = "login"
    return table


def superuser_admin(model: str, perms: str) -> dict:
    """The admin pages of a model only superusers manage; ``perms`` says which
    of view/add/change/delete exist for them (letters v, a, c, d)."""
    only = {letter: ({"admin"} if letter in perms else ()) for letter in "vacd"}
    view = only["v"] or only["c"]
    return {
        f"admin:{model}_changelist": admin_page(view, view),
        f"admin:{model}_add": admin_page(only["a"], only["a"]),
        f"admin:{model}_history": admin_page(view, view),
        f"admin:{model}_delete": admin_page(only["d"], only["d"]),
        f"admin:{model}_change": admin_page(view, only["c"]),
    }


def operator_admin(model: str, perms: str) -> dict:
    """Like ``superuser_admin``, and ops view the pages and run the list's
    actions (a POST to the list); changing stays with ``perms``."""
    table = superuser_admin(model, perms)
    view = OPERATORS
    table[f"admin:{model}_changelist"] = admin_page(view, view)
    table[f"admin:{model}_history"] = admin_page(view, view)
    table[f"admin:{model}_change"] = admin_page(view, {"admin"} if "c" in perms else ())
    return table


def _from_governance_matrix() -> dict:
    """The governance rules of the pytest matrix, for the roles of the stack."""
    from tests.governance.test_authorization_matrix import MATRIX

    out = {}
    for route, methods in MATRIX.items():
        api_route = ":api-" in route
        out[route] = {}
        for method, by in methods.items():
            row = {role: by[ALIKE.get(role, role)] for role in ROLES}
            if api_route and row["anonymous"] == "login":
                row["anonymous"] = "deny"  # an API answers 401, not a redirect
            out[route][method] = row
    return out


def declared() -> dict[str, dict[str, dict[str, str]]]:
    """Route key → method → role → outcome, for every route of the project."""
    from django.contrib import admin

    m: dict[str, dict] = {}
    # core
    m["home"] = page()
    m["health-live"] = public()
    m["health-ready"] = public()
    m["login"] = public(("GET", "POST"))
    m["logout"] = {
        "GET": by_role(rest="405", anonymous="405"),
        "POST": by_role(rest="login"),  # signed out, sent to the login page
    }
    m["api-schema"] = public(api=True)
    m["api-docs"] = public(api=True)
    # the admin site
    m["admin:index"] = admin_page(STAFF, STAFF)
    m["admin:login"] = public(("GET", "POST"))
    m["admin:logout"] = {
        "GET": by_role(CLIENTS, m405=STAFF, anonymous="allow"),
        "POST": by_role(CLIENTS, login=STAFF, anonymous="allow"),
    }
    m["admin:password_change"] = admin_page(STAFF, STAFF)
    m["admin:password_change_done"] = admin_page()
    m["admin:jsi18n"] = admin_page()
    m["admin:autocomplete"] = admin_page(())  # no model uses autocomplete
    m["admin:autocomplete"]["POST"] = m["admin:jsi18n"]["POST"]
    m["admin:view_on_site"] = admin_page(STAFF, STAFF)
    m["admin:app_list"] = admin_page(STAFF, STAFF)
    m["admin:/admin/(?P<url>.*)$"] = admin_page(STAFF, STAFF)
    for model in admin.site._registry:
        label = f"{model._meta.app_label}/{model._meta.model_name}"
        # /admin/<app>/<model>/<id>/ redirects staff to the change page
        m[f"admin:/admin/{label}/<path:object_id>/"] = admin_page(STAFF, STAFF)
    for model in ("auth_group", "auth_user", "authtoken_tokenproxy"):
        m.update(superuser_admin(model, "vacd"))
    m["admin:auth_user_password_change"] = admin_page({"admin"}, {"admin"})
    for schedule in ("periodictask", "clockedschedule", "crontabschedule"):
        m.update(superuser_admin(f"django_celery_beat_{schedule}", "vacd"))
    for schedule in ("intervalschedule", "solarschedule"):
        m.update(superuser_admin(f"django_celery_beat_{schedule}", "vacd"))
    for model in (
        "predictionlog",
        "feedback",
        "feedbackhistory",
        "requesterror",
        "storedresponse",
        "batchjob",
        "precomputedprediction",
    ):
        # read-only records; ops read them while investigating an alert
        m.update(operator_admin(f"inference_{model}", "v"))
    m.update(superuser_admin("monitoring_referencestatistics", "vd"))
    # retraining: policies edited (never deleted) and runs read by superusers
    m.update(superuser_admin("trainer_retrainingpolicy", "vac"))
    m.update(superuser_admin("trainer_retrainingrun", "v"))
    m["trainer:api-runs"] = retraining_api(STAFF, {"requester", "admin"})
    m["trainer:api-run"] = retraining_api(STAFF)
    m.update(operator_admin("monitoring_monitor", "vacd"))
    m.update(operator_admin("monitoring_report", "vd"))
    m.update(operator_admin("monitoring_alert", "vd"))
    # governance: the pytest matrix
    m.update(_from_governance_matrix())
    # inference
    m["inference:api-predict"] = rest_api(PREDICTORS, ("POST",))
    m["inference:invocations"] = rest_api(PREDICTORS, ("POST",))
    m["inference:api-feedback"] = rest_api(PREDICTORS, ("POST",))
    m["inference:api-feedback-bulk"] = rest_api(PREDICTORS, ("POST",))
    m["inference:api-batch-jobs"] = rest_api(PREDICTORS, ("GET", "POST"))
    # reads of one's own records: everyone signed in (an empty list, or 404)
    for route in (
        "api-predictions",
        "api-prediction",
        "api-batch-job",
        "api-batch-job-results",
    ):
        m[f"inference:{route}"] = rest_api(SIGNED_IN)
    # edge: the exported model, its telemetry, the offline page and its worker
    m["inference:api-edge-model"] = rest_api(PREDICTORS, ("GET",))
    m["inference:api-edge-telemetry"] = rest_api(PREDICTORS, ("POST",))
    m["inference:edge-page"] = page(PREDICTORS)
    m["inference:edge-sw"] = page(PREDICTORS)
    m["inference:spam-form"] = page(PREDICTORS, PREDICTORS)
    m["inference:try-default"] = page(PREDICTORS)
    m["inference:try-model"] = page(PREDICTORS, PREDICTORS)
    m["inference:batch-list"] = page(PREDICTORS, PREDICTORS)
    m["inference:batch-detail"] = page(PREDICTORS)
    m["inference:batch-results"] = page(PREDICTORS)
    # monitoring: people read, ops operate, clients see nothing
    for route in ("overview", "model-dashboard", "report-detail", "report-html"):
        m[f"monitoring:{route}"] = page(STAFF)
        m[f"monitoring:{route}"]["POST"] = by_role(m405=STAFF)
    m["monitoring:compare"] = page(STAFF, OPERATORS)
    m["monitoring:prediction-detail"] = page(STAFF)
    for action in ("alert-acknowledge", "alert-snooze"):
        m[f"monitoring:{action}"] = page(OPERATORS, OPERATORS)
        m[f"monitoring:{action}"]["GET"] = by_role(m405=OPERATORS)
    m["monitoring:metrics"] = {
        "GET": by_role(STAFF, anonymous="deny"),
        "POST": by_role(rest="405", anonymous="405"),
    }
    for route in ("api-monitors", "api-report", "api-alerts"):
        m[f"monitoring:{route}"] = split_api(STAFF, OPERATORS, ("GET",))
    for route in (
        "api-report-run",
        "api-compare",
        "api-alert-acknowledge",
        "api-alert-snooze",
    ):
        m[f"monitoring:{route}"] = split_api(STAFF, OPERATORS, ("POST",))
    return m
