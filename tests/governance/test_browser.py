"""In Debian's Chromium (Playwright) against a live server: a production
approver reviews and approves in the admin and sees the alias move; a data
scientist requests a promotion; ops rolls production back in an emergency.

``MODELGATE_SCREENSHOTS=1`` writes the documentation's screenshots."""

import pytest
from django.urls import reverse

from governance.models import PromotionRequest
from governance.services.approvals import promotion_approve

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("governance_defaults", "no_staging_wait"),
]


def _login(page, base: str, username: str) -> None:
    page.goto(f"{base}{reverse('admin:login')}")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/admin/**")


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def test_production_approver_approves_in_the_queue_and_sees_the_alias_move(
    page,
    gov_live_server,
    people,
    model_factory,
    in_production,
    in_staging,
    open_request,
    screenshot,
):
    base = gov_live_server.url
    name = model_factory(versions=2, prefix="sms-spam")
    in_production(name, 1)
    in_staging(name, 2)
    request = open_request(name, 2, "production")
    promotion_approve(request_id=request.pk, user=people.carol, comment="metrics ok")

    _login(page, base, "dave")
    page.goto(f"{base}{reverse('admin:governance_promotionrequest_changelist')}")
    row = page.locator("#result_list tbody tr", has_text=name)
    assert row.count() == 1  # in dave's queue
    assert "1/2" in row.inner_text()
    screenshot(page, "reviewer-queue", full_page=False)

    row.locator("th a, td a").first.click()
    page.wait_for_selector("#approve-form")
    assert page.locator("table.checks").is_visible()
    assert "CHAMPION V1" in page.locator("table.metrics").inner_text().upper()
    assert page.locator("#request-status").inner_text() == "Pending"
    screenshot(page, "reviewer-evidence")

    page.fill("#approve-comment", "Second production approval: checks and drift clean.")
    page.click("#approve-button")
    page.wait_for_selector("#request-status")
    assert page.locator("#request-status").inner_text() == "Applied"

    page.goto(f"{base}{reverse('governance:model-detail', args=[name])}")
    badge = page.locator('#aliases [data-alias="production"]')
    assert badge.inner_text() == "@production → v2"
    previous = page.locator('#aliases [data-alias="previous"]')
    assert previous.inner_text() == "@previous → v1"
    timeline = page.locator('table.timeline[data-alias="production"]')
    assert "carol, dave" in timeline.inner_text()
    screenshot(page, "model-page")
    request.refresh_from_db()
    assert request.status == "applied"


def test_data_scientist_requests_a_promotion_in_the_admin(
    page, gov_live_server, people, model_factory, screenshot
):
    base = gov_live_server.url
    name = model_factory(versions=1, prefix="sms-spam")
    _login(page, base, "alice")
    page.goto(f"{base}{reverse('admin:governance_promotionrequest_add')}")
    page.select_option("#id_model_version", label=f"{name} v1 · tests passed")
    page.select_option("#id_target", "staging")
    page.fill(
        "#id_justification", "Recall up 2 points on the held-out set; card updated."
    )
    screenshot(page, "data-scientist-request", full_page=False)
    page.click("input[type=submit]")
    page.wait_for_selector("#request-status")
    created = PromotionRequest.objects.get(registered_model__name=name)
    assert created.requester.username == "alice"
    # alice may not review her own request: no approve button for her
    assert page.locator("#approve-button").count() == 0
    assert "four-eyes" in page.content()


def test_ops_emergency_rollback_from_the_model_page(
    page, gov_live_server, people, model_factory, in_production, screenshot
):
    base = gov_live_server.url
    name = model_factory(versions=2, prefix="sms-spam")
    in_production(name, 1)
    second = in_production(name, 2)
    _login(page, base, "erin")
    url = reverse(
        "admin:governance_registeredmodel_change", args=[second.registered_model_id]
    )
    page.goto(f"{base}{url}")
    screenshot(page, "ops-rollback")
    form = page.locator("form", has=page.locator("input[value=emergency_rollback]"))
    form.locator("textarea").fill("Spam floods through v2 since 14:05")
    form.locator("input[type=submit]").click()
    page.wait_for_selector("#unconfirmed-emergency")
    assert (
        "awaiting confirmation" in page.locator("#unconfirmed-emergency").inner_text()
    )
    page.goto(f"{base}{reverse('governance:model-detail', args=[name])}")
    assert page.locator('#aliases [data-alias="production"]').inner_text() == (
        "@production → v1"
    )
