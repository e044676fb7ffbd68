"""Every role's first hour, in Debian's Chromium at 1,280 × 800 against a live
server: each demo role signs in, follows every link of its top bar and walks
its main journey (data scientist: request staging; staging approver: approve;
production approvers: approve; ops: dashboard and the logged requests;
viewer: read-only registry; API client: the API docs).

On every page reached: no 4xx/5xx, no horizontal scroll, no console error,
charts drawn with readable axes; each page's main action is visible without
scrolling. ``make walkthrough`` writes the full-page screenshots to docs/img
(``walkthrough-<role>-<page>.png``) for the role pages of the docs."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("governance_defaults", "no_staging_wait"),
]

WIDTH, HEIGHT = 1280, 800
# a tick like "02:59:59.9996" or "0.30000000004": a chart on a broken grid
BAD_TICK = re.compile(r"\d[.:]\d*9999|\.\d{4,}")


class Walker:
    """One signed-in browser context that checks every page it opens."""

    def __init__(self, browser, base: str, role: str, screenshot) -> None:
        self.context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
        self.page = self.context.new_page()
        self.page.set_default_timeout(20_000)
        self.base, self.role, self.screenshot = base, role, screenshot
        self.errors: list[str] = []
        self.page.on(
            "console",
            lambda m: self.errors.append(m.text) if m.type == "error" else None,
        )
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def login(self, username: str) -> None:
        self.page.goto(f"{self.base}{reverse('login')}")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", "pw")
        self.page.click("button[type=submit], input[type=submit]")
        self.page.wait_for_url(f"{self.base}/")

    def open(self, path: str, name: str) -> None:
        response = self.page.goto(
            path if path.startswith("http") else f"{self.base}{path}"
        )
        self.check(name, response.status if response else 0)

    def check(self, name: str, status: int = 200) -> None:
        page = self.page
        page.wait_for_load_state("load")
        where = f"{self.role} on {name} ({page.url})"
        assert status < 400, f"{where}: HTTP {status}"
        if page.locator("[data-chart]").count():
            # charts are drawn from JSON fetched after the page loads
            page.wait_for_load_state("networkidle")
            for tick in page.locator(".xtick text, .ytick text").all_text_contents():
                assert not BAD_TICK.search(tick), f"{where}: axis tick {tick!r}"
        width = page.evaluate(
            "document.documentElement.scrollWidth"
            " - document.documentElement.clientWidth"
        )
        assert width <= 1, f"{where}: scrolls {width} px sideways"
        assert not self.errors, f"{where}: console errors {self.errors}"
        self.screenshot(page, f"walkthrough-{self.role}-{name}")

    def visible_without_scrolling(self, selector: str) -> None:
        box = self.page.locator(selector).first.bounding_box()
        assert box is not None, f"{self.role}: {selector} is not shown"
        assert box["y"] + box["height"] <= HEIGHT, (
            f"{self.role}: {selector} ends at {box['y'] + box['height']:.0f} px, "
            f"below the {HEIGHT} px window"
        )

    def nav(self) -> list[tuple[str, str]]:
        links = self.page.locator("header.topbar nav a")
        return [
            (links.nth(i).inner_text().strip(), links.nth(i).get_attribute("href"))
            for i in range(links.count())
        ]

    def crawl_nav(self) -> list[str]:
        """Open every top-bar link; returns the labels followed."""
        self.open("/", "home")
        seen = []
        for label, href in self.nav():
            slug = re.sub(r"[^a-z]+", "-", label.lower()).strip("-")
            self.open(href, slug)
            seen.append(label)
            self.page.goto(f"{self.base}/")
        return seen

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def walk(chromium, gov_live_server, screenshot):
    walkers = []

    def start(role: str, username: str) -> Walker:
        walker = Walker(chromium, gov_live_server.url, role, screenshot)
        walker.login(username)
        walkers.append(walker)
        return walker

    yield start
    for walker in walkers:
        walker.close()


@pytest.fixture
def demo_model(settings, model_factory, in_production, people, client):
    """A model in production with traffic, two newer tested versions, the
    default model of the try page."""
    name = model_factory(versions=3, prefix="sms-spam")
    in_production(name, 1)
    settings.MODELGATE = {**settings.MODELGATE, "DEFAULT_MODEL": name}
    client.force_login(people.client)
    for text in ("WINNER!! claim your prize now", "see you at 7", "call me later"):
        response = client.post(
            reverse("inference:api-predict", args=[name]),
            {"inputs": [{"message": text}]},
            content_type="application/json",
        )
        assert response.status_code == 200, response.content
    from datetime import timedelta

    from django.utils import timezone

    from monitoring.services.rollups import rollups_update_predictions

    rollups_update_predictions(now=timezone.now() + timedelta(minutes=5))
    return name


def test_every_role_walks_its_first_hour(walk, demo_model, people, open_request):
    name = demo_model

    # data scientist: every page of the bar, then request v3 → staging from
    # the model page's action
    alice = walk("data-scientist", "alice")
    assert "Try a model" in alice.crawl_nav()
    alice.open("/", "home")
    alice.visible_without_scrolling('[data-step="request-a-promotion"]')
    alice.open(reverse("governance:model-detail", args=[name]), "model")
    alice.visible_without_scrolling('[data-action="request"]')
    alice.page.click('[data-action="request"]')
    alice.check("request-form")
    chosen = alice.page.locator("#id_model_version option:checked").inner_text()
    assert chosen.startswith(f"{name} v3 · tests passed"), chosen
    alice.page.select_option("#id_target", "staging")
    alice.page.fill("#id_justification", "v3: recall up on the same held-out set")
    alice.page.click("#request-form input[type=submit]")
    alice.page.wait_for_selector("#request-status")
    alice.check("request-created")

    # staging approver: the home page counts the request; approve it from the
    # top of the review page
    bob = walk("staging-approver", "bob")
    bob.crawl_nav()
    bob.open("/", "home")
    review = bob.page.locator('[data-step="review-promotions"]')
    assert review.locator(".badge").inner_text() == "1"
    bob.visible_without_scrolling('[data-step="review-promotions"]')
    review.click()
    bob.check("queue")
    bob.page.locator("#result_list tbody tr", has_text=name).locator("a").first.click()
    bob.page.wait_for_selector("#approve-button")
    bob.check("review")
    bob.visible_without_scrolling("#approve-button")
    bob.page.fill("#approve-comment", "Checks passed, drift clean.")
    bob.page.click("#approve-button")
    bob.page.wait_for_selector("#request-status")
    assert bob.page.locator("#request-status").inner_text() == "Applied"

    # production approvers: the second approval applies v2 (staged already)
    request = open_request(name, 3, "production")
    for role, username, status in (
        ("production-approver", "carol", "Pending"),  # one of two approvals
        ("production-approver-2", "dave", "Applied"),
    ):
        approver = walk(role, username)
        if username == "carol":
            approver.crawl_nav()
        approver.open(
            reverse("admin:governance_promotionrequest_change", args=[request.pk]),
            "review",
        )
        approver.visible_without_scrolling("#approve-button")
        approver.page.click("#approve-button")
        approver.page.wait_for_selector("#request-status")
        assert approver.page.locator("#request-status").inner_text() == status
    request.refresh_from_db()
    assert request.status == "applied"

    # ops: the dashboards with their charts, then the logged requests
    erin = walk("ops", "erin")
    assert "Monitoring" in erin.crawl_nav()
    erin.open(reverse("monitoring:overview"), "monitoring")
    erin.open(reverse("monitoring:model-dashboard", args=[name]), "dashboard")
    erin.page.wait_for_selector("#chart-traffic.js-plotly-plot .main-svg")
    erin.check("dashboard")
    erin.open(reverse("admin:monitoring_alert_changelist"), "alerts")
    erin.open(reverse("admin:inference_predictionlog_changelist"), "predictions")

    # viewer: reads the registry and a model, offered no action it cannot take
    victor = walk("viewer", "victor")
    assert "Spam checker" not in victor.crawl_nav()
    victor.open(reverse("governance:model-detail", args=[name]), "model")
    assert victor.page.locator('[data-action="request"]').count() == 0
    assert victor.page.locator('[data-action="review"]').count() == 0

    # API client: the API docs, with a way back to the app
    api = walk("api-client", "client")
    api.crawl_nav()
    api.open(reverse("api-docs"), "api-docs")
    assert api.page.locator('a[href="/"]').count() >= 1
