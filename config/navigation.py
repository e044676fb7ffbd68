"""The top bar's links, each shown only to the people it works for (in config:
the bar spans every app, and core imports none).

Every link asks the rule its page enforces (the app's own permission
function), so the bar never offers a page that would answer 403.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse


@dataclass(frozen=True)
class NavLink:
    label: str
    url: str
    active: bool = False


def _can_predict(user) -> bool:
    from inference.permissions import can_predict

    return can_predict(user)


def _can_view_monitoring(user) -> bool:
    from monitoring.permissions import can_view

    return can_view(user)


def nav_links(user, path: str = "") -> list[NavLink]:
    """The links ``user`` may follow, in the bar's order; the one whose
    section holds ``path`` is marked active."""
    if not getattr(user, "is_authenticated", False):
        return []
    wanted = [
        ("Models", "home", True),
        ("Registry", "governance:registry", True),
        ("Monitoring", "monitoring:overview", _can_view_monitoring(user)),
        ("Spam checker", "inference:spam-form", _can_predict(user)),
        ("Try a model", "inference:try-default", _can_predict(user)),
        ("Batch", "inference:batch-list", _can_predict(user)),
        ("API", "api-docs", True),
        ("Admin", "admin:index", user.is_staff),
    ]
    links = []
    for label, name, allowed in wanted:
        if not allowed:
            continue
        url = reverse(name)
        active = path == url if url == "/" else path.startswith(url)
        links.append(NavLink(label, url, active))
    return links


def navigation(request) -> dict:
    """Template context processor: ``nav_links`` for the top bar and
    ``next_steps`` for the home page, each computed only by a template that
    shows it (templates call a callable value)."""
    user = getattr(request, "user", None)
    return {
        "nav_links": lambda: nav_links(user, request.path) if user else [],
        "next_steps": lambda: next_steps(user) if user else [],
        "can_monitor": lambda: bool(user) and _can_view_monitoring(user),
        "can_try": lambda: bool(user) and _can_predict(user),
    }


@dataclass(frozen=True)
class NextStep:
    """A card on the home page: what this person can do now, and where."""

    title: str
    text: str
    url: str
    count: int | None = None
    urgent: bool = False


def next_steps(user) -> list[NextStep]:
    """What ``user`` can do next, most pressing first: reviews waiting for
    them, open alerts, a promotion to request, a model to try; every card
    links to a page the user's role may open."""
    if not getattr(user, "is_authenticated", False):
        return []
    from governance import permissions as gov
    from governance.selectors import review_queue

    steps: list[NextStep] = []
    if gov.review_groups(user):
        waiting = review_queue(user=user).count()
        steps.append(
            NextStep(
                "Review promotions",
                f"{waiting} request{'s' if waiting != 1 else ''} await"
                f"{'s' if waiting == 1 else ''} your decision."
                if waiting
                else "Nothing awaits your decision right now.",
                reverse("admin:governance_promotionrequest_changelist") + "?queue=mine",
                count=waiting,
                urgent=bool(waiting),
            )
        )
    if _can_view_monitoring(user):
        from monitoring.selectors import active_alerts

        alerts = active_alerts().count()
        steps.append(
            NextStep(
                "Open alerts",
                f"{alerts} alert{'s are' if alerts != 1 else ' is'} open: "
                "see the model dashboards and their reports."
                if alerts
                else "No alert is open. Dashboards show traffic, drift and outliers.",
                reverse("monitoring:overview"),
                count=alerts,
                urgent=bool(alerts),
            )
        )
    if gov.can_request(user):
        steps.append(
            NextStep(
                "Request a promotion",
                "Put a tested version before the reviewers: staging first, "
                "then production.",
                reverse("admin:governance_promotionrequest_add"),
            )
        )
    if _can_predict(user):
        steps.append(
            NextStep(
                "Try a model",
                "Send a prediction from a form; it is logged like any API call.",
                reverse("inference:try-default"),
            )
        )
    steps.append(
        NextStep(
            "Browse the registry",
            "Every model, its aliases, versions, tests and promotion history.",
            reverse("governance:registry"),
        )
    )
    steps.sort(key=lambda step: not step.urgent)
    return steps
