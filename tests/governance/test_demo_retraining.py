"""The continuous-training demo (``make demo-retraining``,
docs/continuous-training.md) end to end, with the commands the make target
runs: a spam campaign the production model never saw appears in labelled
traffic → a drift alert → one retraining run on the file data plus the
labelled predictions → a version that beats the champion on the same
held-out rows → a staging request in the reviewers' queue; no alias moved.
Then, in Chromium, what the data scientist and the staging approver see
(``make screenshots`` writes them to docs/img as ``retraining-*.png``)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from tests.conftest import FAST

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("governance_defaults", "no_staging_wait"),
]


def _run_demo(name: str) -> str:
    """The commands of ``make demo-retraining`` for model ``name``."""
    out = StringIO()
    overrides = [arg for item in FAST for arg in ("--set", item)]
    call_command(
        "seed_retraining_policy",
        "--model",
        name,
        "--requester",
        "alice",
        "--production-days",
        "1",
        "--min-gap-minutes",
        "0",
        *overrides,
        stdout=out,
    )
    call_command(
        "simulate_traffic",
        "--model",
        name,
        "--hours",
        "4",
        "--drift-hours",
        "2",
        "--per-hour",
        "600",  # a drift verdict needs the monitor's 500 rows per window
        "--scenario",
        "new-spam",
        "--labels",
        "0.6",
        "--seed",
        "7",
        stdout=out,
    )
    call_command("retraining_runs", "--model", name, stdout=out)
    return out.getvalue()


def test_a_new_spam_campaign_retrains_and_waits_for_the_reviewers(
    model_factory, in_production, people, chromium, gov_live_server, screenshot
):
    from governance.selectors import model_aliases
    from monitoring.models import Alert
    from trainer.models import RetrainingRun

    # given a model in production, monitored, with a retraining policy
    name = model_factory(versions=1, prefix="sms-spam")
    in_production(name, 1)
    call_command("seed_monitors", "--model", name, stdout=StringIO())

    # when the demo's traffic arrives (tasks run in process: eager in tests)
    printed = _run_demo(name)

    # then one drift alert started one run, which trained on both sources
    alerts = Alert.objects.filter(model_name=name, rule__kind="drift_share_above")
    assert alerts.exists()
    run = RetrainingRun.objects.get(model_name=name)
    assert (run.trigger, run.status, run.model_version) == ("alert", "succeeded", 2)
    sources = run.data["sources"]
    assert sources["production"]["rows_used"] > 100 and sources["file"]["rows_used"]
    # and opened a staging request whose checks passed, the candidate beating
    # the champion on the same held-out rows (which hold the campaign)
    request = run.promotion_request
    assert (request.target, request.status, request.checks_status) == (
        "staging",
        "pending",
        "passed",
    )
    metrics = next(c for c in request.evidence["checks"] if c["name"] == "metrics")
    comparison = metrics["data"]["comparison"]
    assert comparison["champion_version"] == 1
    assert comparison["candidate"]["mcc"] > comparison["champion"]["mcc"] + 0.1
    assert "campaign" not in request.justification  # the data speaks, not us
    assert f"Trigger: warning alert #{alerts.first().pk}" in request.justification
    # no alias moved: the approvers decide
    assert model_aliases(name=name) == {"staging": 1, "production": 1}
    assert f"staging request #{request.pk}: pending, checks passed" in printed

    # the data scientist sees the run on the model page
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        _login(page, gov_live_server.url, "alice")
        page.goto(
            f"{gov_live_server.url}{reverse('governance:model-detail', args=[name])}"
        )
        row = page.locator(f'tr[data-run="{run.pk}"]')
        assert "Succeeded" in row.inner_text() and f"#{request.pk}" in row.inner_text()
        row.scroll_into_view_if_needed()
        screenshot(page, "retraining-model-page")
        context.close()

        # the staging approver finds the request in the queue and reviews it
        context = chromium.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        _login(page, gov_live_server.url, "bob")
        page.goto(
            f"{gov_live_server.url}{reverse('admin:governance_promotionrequest_changelist')}"
        )
        queued = page.locator("#result_list tbody tr", has_text=name)
        assert queued.count() == 1
        screenshot(page, "retraining-queue")
        queued.locator("a").first.click()
        page.wait_for_selector("#approve-button")
        body = page.locator("body").inner_text()
        assert "Automatic retraining run" in body and "Against the champion" in body
        screenshot(page, "retraining-review")
    finally:
        context.close()


def _login(page, base: str, username: str) -> None:
    page.goto(f"{base}{reverse('login')}")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw")
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_url(f"{base}/")
