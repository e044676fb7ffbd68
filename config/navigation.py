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
    """Template context processor: ``nav_links`` for the top bar, computed
    only by a template that shows it (templates call a callable value)."""
    user = getattr(request, "user", None)
    return {"nav_links": lambda: nav_links(user, request.path) if user else []}
