"""RELIABILITY check 3 for governance: every governance route × method × role.

The routes come from the URL resolver (the governance namespace and the admin
pages of governance's models); a route missing from MATRIX fails the test, so
a new route cannot ship without a declared rule. Each case runs in a savepoint
that is rolled back, so cases do not see each other's writes.

Outcomes: ``allow`` (reached the action: any status but 401/403/5xx and not a
redirect to a login page), ``deny`` (403), ``login`` (anonymous or non-staff:
401/403 from the API, a redirect to a login page elsewhere), ``405``.
"""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from core.roles import Role

ROLES = [
    "anonymous",
    "viewer",
    "requester",
    "staging_approver",
    "production_approver",
    "ops",
    "admin",
    "api_client",
]
GOV = {"viewer", "requester", "staging_approver", "production_approver", "ops", "admin"}
API_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
PAGE_METHODS = ["GET", "POST"]


def rule(allow=(), deny=None, *, anonymous="login", others="deny"):
    """A role → outcome mapping: ``allow`` roles allowed, ``deny`` roles (default:
    every other signed-in role) denied."""
    out = {}
    for role in ROLES:
        if role == "anonymous":
            out[role] = anonymous
        elif role in allow:
            out[role] = "allow"
        elif deny is None or role in deny:
            out[role] = others
        else:
            out[role] = "allow"
    return out


def api(read=None, write=None, *, write_method="POST"):
    """An API route: GET by ``read`` roles, ``write_method`` by ``write`` roles,
    every other method 405 for signed-in users."""
    table = {}
    for method in API_METHODS:
        if method == "GET" and read is not None:
            table[method] = rule(read)
        elif method == write_method and write is not None:
            table[method] = rule(write)
        else:
            table[method] = {r: ("login" if r == "anonymous" else "405") for r in ROLES}
    return table


def admin_page(get=GOV, post=(), *, post_others="deny"):
    """An admin page: non-staff go to the admin login."""
    table = {"GET": rule(get), "POST": rule(post, others=post_others)}
    for method in table.values():
        method["api_client"] = "login"  # not staff
    return table


EVERYONE_SIGNED_IN = set(ROLES) - {"anonymous"}

MATRIX: dict[str, dict[str, dict[str, str]]] = {
    # pages
    "governance:registry": {
        "GET": rule(EVERYONE_SIGNED_IN),
        "POST": {r: "login" if r == "anonymous" else "405" for r in ROLES},
    },
    "governance:model-detail": {
        "GET": rule(EVERYONE_SIGNED_IN),
        "POST": {r: "login" if r == "anonymous" else "405" for r in ROLES},
    },
    # API
    "governance:api-requests": api(read=GOV, write={"requester", "admin"}),
    "governance:api-request-detail": api(read=GOV),
    "governance:api-request-cancel": api(write={"requester", "admin"}),
    "governance:api-request-approve": api(write={"staging_approver"}),
    "governance:api-request-reject": api(write={"staging_approver"}),
    "governance:api-request-confirm": api(write={"production_approver"}),
    "governance:api-models": api(read=GOV),
    "governance:api-rollback": api(write={"ops", "production_approver", "admin"}),
    "governance:api-emergency-rollback": api(write={"ops", "admin"}),
    "governance:api-alias-history": api(read=GOV),
    "governance:api-audit": api(read=GOV),
    "governance:api-policies": api(read=GOV),
    "governance:api-mlflow-webhook": {
        m: {r: ("allow" if m == "POST" else "405") for r in ROLES} for m in API_METHODS
    },
    # admin: requests (the review queue and page)
    "admin:governance_promotionrequest_changelist": admin_page(post=GOV),
    "admin:governance_promotionrequest_add": admin_page(
        get={"requester", "admin"}, post={"requester", "admin"}
    ),
    "admin:governance_promotionrequest_change": admin_page(
        # a superuser approves only in their own groups (policy switch aside)
        post={"staging_approver"}
    ),
    "admin:governance_promotionrequest_history": admin_page(post=GOV),
    "admin:governance_promotionrequest_delete": admin_page(get=()),
    # admin: model pages (rollback buttons)
    "admin:governance_registeredmodel_changelist": admin_page(post=GOV),
    "admin:governance_registeredmodel_add": admin_page(get=()),
    "admin:governance_registeredmodel_change": admin_page(
        post={"ops", "production_approver", "admin"}
    ),
    "admin:governance_registeredmodel_history": admin_page(post=GOV),
    "admin:governance_registeredmodel_delete": admin_page(get=()),
    # admin: the ledger, read-only for everyone
    "admin:governance_auditevent_changelist": admin_page(post=GOV),
    "admin:governance_auditevent_add": admin_page(get=()),
    "admin:governance_auditevent_change": admin_page(),
    "admin:governance_auditevent_history": admin_page(post=GOV),
    "admin:governance_auditevent_delete": admin_page(get=()),
    "admin:governance_webhookdelivery_changelist": admin_page(post=GOV),
    "admin:governance_webhookdelivery_add": admin_page(get=()),
    "admin:governance_webhookdelivery_change": admin_page(),
    "admin:governance_webhookdelivery_history": admin_page(post=GOV),
    "admin:governance_webhookdelivery_delete": admin_page(get=()),
    # admin: policies, edited by admins only
    "admin:governance_promotionpolicy_changelist": admin_page(post=GOV),
    "admin:governance_promotionpolicy_add": admin_page(get={"admin"}, post={"admin"}),
    "admin:governance_promotionpolicy_change": admin_page(post={"admin"}),
    "admin:governance_promotionpolicy_history": admin_page(post=GOV),
    "admin:governance_promotionpolicy_delete": admin_page(get=()),
}


def governance_routes() -> set[str]:
    """Every route name of the governance namespace and of governance's admin."""
    names: set[str] = set()

    def walk(patterns, namespace):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                ns = entry.namespace or namespace
                walk(entry.url_patterns, ns)
            elif isinstance(entry, URLPattern) and entry.name:
                if namespace == "governance":
                    names.add(f"governance:{entry.name}")
                elif namespace == "admin" and entry.name.startswith("governance_"):
                    names.add(f"admin:{entry.name}")

    walk(get_resolver().url_patterns, None)
    return names


def test_every_governance_route_has_a_declared_rule():
    routes = governance_routes()
    missing = sorted(routes - set(MATRIX))
    assert not missing, f"routes without an authorization rule: {missing}"
    stale = sorted(set(MATRIX) - routes)
    assert not stale, f"rules for routes that no longer exist: {stale}"


# ------------------------------------------------------------------ the run
@pytest.fixture
def world(people, make_user, model_factory, in_production, open_request, commits):
    """Objects the routes point at: a pending staging request by alice, a model
    with production and previous, an emergency rollback awaiting confirmation."""
    from governance.models import AuditEvent, PromotionPolicy, WebhookDelivery
    from governance.services.rollback import promotion_emergency_rollback

    name = model_factory(versions=3)
    in_production(name, 1)
    in_production(name, 2)
    with commits():
        emergency = promotion_emergency_rollback(
            user=people.erin, model_name=name, justification="incident"
        )
    pending = open_request(name, 3, "staging")
    people.client.is_staff = False
    people.client.save()
    delivery = WebhookDelivery.objects.create(
        delivery_id="d-1",
        entity="model_version",
        action="created",
        model_name=name,
        sent_at=pending.created_at,
        payload={},
    )
    users = {
        "viewer": people.victor,
        "requester": people.alice,
        "staging_approver": people.bob,
        "production_approver": people.carol,
        "ops": people.erin,
        "admin": people.admin,
        "api_client": people.client,
    }
    model_pk = pending.registered_model_id
    kwargs = {
        "governance:model-detail": {"name": name},
        "governance:api-request-detail": {"pk": pending.pk},
        "governance:api-request-cancel": {"pk": pending.pk},
        "governance:api-request-approve": {"pk": pending.pk},
        "governance:api-request-reject": {"pk": pending.pk},
        "governance:api-request-confirm": {"pk": emergency.pk},
        "governance:api-rollback": {"name": name},
        "governance:api-emergency-rollback": {"name": name},
        "governance:api-alias-history": {"name": name, "alias": "production"},
    }
    object_ids = {
        "promotionrequest": pending.pk,
        "registeredmodel": model_pk,
        "auditevent": AuditEvent.objects.order_by("sequence").first().pk,
        "webhookdelivery": delivery.pk,
        "promotionpolicy": PromotionPolicy.objects.get(
            target="staging", is_active=True
        ).pk,
    }
    return {"users": users, "kwargs": kwargs, "object_ids": object_ids, "name": name}


def _url(route: str, world) -> str:
    if route.startswith("admin:"):
        model = route.split("_")[1]
        if route.endswith(("_change", "_history", "_delete")):
            return reverse(route, args=[world["object_ids"][model]])
        return reverse(route)
    return reverse(route, kwargs=world["kwargs"].get(route, {}))


def _body(route: str, world) -> dict:
    """A meaningful body for each write (what a real client would send)."""
    name = world["name"]
    return {
        "governance:api-requests": {
            "model": name,
            "version": 3,
            "target": "production",
            "justification": "matrix",
        },
        "governance:api-request-reject": {"comment": "matrix"},
        "governance:api-rollback": {"justification": "matrix"},
        "governance:api-emergency-rollback": {"justification": "matrix"},
        "admin:governance_promotionrequest_change": {"decision": "approve"},
        "admin:governance_registeredmodel_change": {
            "action": "rollback",
            "justification": "matrix",
        },
        "admin:governance_promotionrequest_add": {
            "model_version": "",
            "target": "staging",
            "justification": "matrix",
        },
        "admin:governance_promotionpolicy_add": {"target": "staging"},
        "admin:governance_promotionpolicy_change": {"approvals_required": "1"},
        "admin:governance_promotionrequest_changelist": {"action": "", "index": 0},
    }.get(route, {})


def _outcome(route: str, response) -> str:
    status = response.status_code
    assert status < 500, f"{route}: server error {status}"
    if status in (401, 403):
        return "deny"
    if status == 405:
        return "405"
    if status == 302 and "login" in response.get("Location", ""):
        return "login"
    return "allow"


def _expected(route: str, outcome: str) -> str:
    # anonymous API calls are refused (401/403): the same "deny" status family
    if outcome == "login" and not route.startswith("admin:") and "api-" in route:
        return "deny"
    return outcome


def test_authorization_matrix(world):
    problems = []
    clients = {"anonymous": Client()}
    for role, user in world["users"].items():
        clients[role] = Client()
        clients[role].force_login(user)
    for route, methods in sorted(MATRIX.items()):
        url = _url(route, world)
        for method, by_role in methods.items():
            for role in ROLES:
                expected = _expected(route, by_role[role])
                client = clients[role]
                sid = transaction.savepoint()
                try:
                    if route.startswith("admin:") or ":api-" not in route:
                        response = getattr(client, method.lower())(
                            url, _body(route, world)
                        )
                    else:
                        response = getattr(client, method.lower())(
                            url, _body(route, world), content_type="application/json"
                        )
                    got = _outcome(route, response)
                finally:
                    transaction.savepoint_rollback(sid)
                if got != expected:
                    problems.append(
                        f"{method} {route} as {role}: expected {expected}, got {got} "
                        f"({response.status_code})"
                    )
    assert not problems, "\n".join(problems)


def test_roles_are_the_groups_created_by_the_migration(db):
    from django.contrib.auth.models import Group

    assert {r.value for r in Role} <= set(Group.objects.values_list("name", flat=True))
