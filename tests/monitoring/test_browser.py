"""The dashboards in Debian's Chromium (Playwright): the overview and a model
page render their Plotly charts. Screenshots go to a temporary folder, or to
docs/img/ with MODELGATE_SCREENSHOTS=1 (``make screenshots``)."""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from monitoring.calculations.windows import last_complete_window
from monitoring.services.reports import report_execute, report_get_or_create
from monitoring.services.rollups import rollups_update_predictions
from tests.monitoring.factories import add_rule, log_rows, make_monitor, window_frame

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


@pytest.fixture
def browser():
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        message = "Debian's chromium is not installed"
        if os.environ.get("MODELGATE_REQUIRE_BROWSER") in ("1", "true", "yes"):
            pytest.fail(f"MODELGATE_REQUIRE_BROWSER=1 and {message}", pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM
            if Path(CHROMIUM).exists()
            else shutil.which("chromium"),
            args=ARGS,
            headless=True,
        )
        yield browser
        browser.close()


@pytest.fixture
def monitored_model(transactional_db, tabular_reference):
    """Six hours of breast-cancer traffic, the last two drifting, with reports."""
    monitor = make_monitor("breast-cancer", model_version=1)
    add_rule(monitor, "feature_drifted", column="mean_radius")
    _, end = last_complete_window(timezone.now(), 60)
    for hour in range(6, 0, -1):
        start = end - timedelta(hours=hour)
        drifting = hour <= 2
        frame = window_frame(
            tabular_reference,
            400,
            shift={"mean_radius": 1.5, "worst_area": 1.5} if drifting else None,
            seed=hour,
        )
        labels = [
            "malignant" if (drifting and i % 4 == 0) else p
            for i, p in enumerate(frame["prediction"])
        ]
        log_rows(
            frame, model_name="breast-cancer", version=1, start=start,
            end=start + timedelta(hours=1), labels=labels, outlier_share=0.02,
            seed=hour,
        )  # fmt: skip
        report, _ = report_get_or_create(
            monitor=monitor, start=start, end=start + timedelta(hours=1)
        )
        report_execute(report_id=report.pk)
    rollups_update_predictions(now=timezone.now() + timedelta(minutes=5))
    return monitor


@pytest.fixture
def ops_user(make_user, transactional_db):
    make_user("erin", roles=["ops", "viewers"], password="a-long-demo-pw")
    return "erin"


def _login(page, live_server):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "erin")
    page.fill("input[name=password]", "a-long-demo-pw")
    page.click("button[type=submit]")


def test_overview_and_model_page_render_charts(
    live_server, monitored_model, ops_user, tmp_path, browser
):
    # the browser fixture comes last: Playwright's sync API runs an event loop
    # in this thread, after which Django refuses database calls here
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _login(page, live_server)

    page.goto(f"{live_server.url}/monitoring/")
    page.wait_for_selector("#chart-overview.js-plotly-plot .main-svg", timeout=20000)
    assert page.locator("[data-health]").first.inner_text() in (
        "healthy", "drifting", "degraded", "not enough data",
    )  # fmt: skip
    shots = DOCS_IMG if os.environ.get("MODELGATE_SCREENSHOTS") == "1" else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "monitoring-overview.png"), full_page=True)

    page.goto(f"{live_server.url}/monitoring/models/breast-cancer/")
    for chart in ("traffic", "latency", "drift", "columns", "performance"):
        page.wait_for_selector(
            f"#chart-{chart}.js-plotly-plot .main-svg", timeout=20000
        )
    assert page.locator(".js-plotly-plot").count() >= 7
    assert "mean_radius drifted" in page.content()
    page.screenshot(path=str(shots / "monitoring-model.png"), full_page=True)

    page.click("table.grid a[href*='/monitoring/reports/']")
    page.wait_for_selector("#drift-table")
    page.screenshot(path=str(shots / "monitoring-report.png"), full_page=True)
    assert not errors, errors


@pytest.fixture
def fresh_monitor(transactional_db):
    return make_monitor("breast-cancer", model_version=1)


def test_fresh_install_charts_explain_then_draw_a_sane_axis(
    live_server, fresh_monitor, ops_user, tabular_reference, tmp_path, browser
):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _login(page, live_server)
    url = f"{live_server.url}/monitoring/models/breast-cancer/"

    # no traffic yet: every chart says what will appear, the page how to get it
    page.goto(url)
    page.wait_for_load_state("networkidle")
    assert page.locator("#no-traffic").is_visible()
    assert "make simulate" in page.locator("#no-traffic").inner_text()
    assert page.locator(".js-plotly-plot").count() == 0
    assert page.locator(".chart .empty-state").count() == 8

    # a handful of predictions in the current hour: one bar on a day-wide axis
    # (written from another thread: this one runs Playwright's event loop, in
    # which Django refuses database calls)
    def predictions_now():
        now = timezone.now()
        log_rows(
            window_frame(tabular_reference, 8, seed=1),
            model_name="breast-cancer", version=1,
            start=now.replace(minute=0, second=0, microsecond=0),
            end=now + timedelta(seconds=1),
        )  # fmt: skip
        rollups_update_predictions(now=now + timedelta(minutes=5))
        connection.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(predictions_now).result()
    page.goto(url)
    for chart in ("traffic", "latency", "outliers"):
        page.wait_for_selector(
            f"#chart-{chart}.js-plotly-plot .main-svg", timeout=20000
        )
    ticks = page.locator("#chart-traffic .xtick text").all_text_contents()
    assert ticks and not [t for t in ticks if "." in t], ticks  # no sub-second ticks
    outlier_ticks = page.locator("#chart-outliers .ytick text").all_text_contents()
    assert len(outlier_ticks) == len(set(outlier_ticks)) > 1, outlier_ticks
    # the current hour is marked as still filling
    assert "still filling" in page.locator("#chart-traffic").text_content()
    assert page.locator("#no-traffic").count() == 0
    page.screenshot(path=str(tmp_path / "fresh.png"), full_page=True)
    assert not errors, errors
