"""The edge page in Debian's Chromium (Playwright): the model is downloaded
once, predicts offline with the server's labels, and the predictions reach the
log exactly once when the browser is back online."""

import os

import pytest

from inference.models import PredictionLog

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
MESSAGES = [
    "WINNER!! You have been selected to receive a £900 prize. Call 09061701461",
    "Are we still on for dinner tonight? I'll be there around 7",
    "FREE RINGTONE! Reply REAL to 85555, 150p/msg  T&C apply\n18+ only",
    "Sorry, running 10 minutes late, see you at the station",
    "URGENT! Your mobile number has won a 2000 bonus caller prize",
]


@pytest.fixture
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("MODELGATE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"MODELGATE_REQUIRE_BROWSER=1 and {CHROMIUM} is missing")
        pytest.skip("Chromium is not installed")
    from playwright.sync_api import sync_playwright

    saved = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            chromium = p.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--no-first-run"],
                headless=True,
            )
            yield chromium
            chromium.close()
    finally:
        if saved is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def test_edge_page_predicts_offline_like_the_server_and_reports_once(
    browser, live_server, role_groups, make_user, served_sms
):
    from inference.services.predict import served_model_get

    make_user("edge-user", roles=["api_clients"], password="pw-edge-1")
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(60_000)

    # given the page loaded once, online: model downloaded, runtime cached
    page.goto(f"{live_server.url}/accounts/login/?next=/models/sms-spam/edge")
    page.fill("input[name=username]", "edge-user")
    page.fill("input[name=password]", "pw-edge-1")
    page.click("button[type=submit]")
    page.wait_for_url("**/models/sms-spam/edge")
    page.wait_for_selector(f"body[data-edge-ready='{served_sms.version}']")
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")

    # when the network is cut
    context.set_offline(True)
    # the page learns of it asynchronously: predict only once it has
    page.wait_for_function("navigator.onLine === false")
    page.fill("#edge-in-1", MESSAGES[0])
    page.click("#edge-predict")
    page.wait_for_selector("#edge-result:not([hidden])")
    shown = page.text_content("#edge-label")
    edge = [
        page.evaluate("m => modelgateEdge.predict({message: m})", m)
        for m in MESSAGES[1:]
    ]
    # then nothing reached the server: the five wait in the page's queue
    assert page.evaluate("modelgateEdge.queue().length") == 5
    assert not PredictionLog.objects.filter(source="edge").exists()

    # when the page is reloaded without a network (service worker, cached
    # model). Chromium applies the context's offline emulation to the new
    # document a moment after its scripts start, so the reloaded page's
    # first report can reach the server while its answer is lost: the items
    # stay queued and are sent again once online, answered "duplicate"; the
    # exactly-once check below covers that path.
    page.reload()
    page.wait_for_selector(f"body[data-edge-ready='{served_sms.version}']")
    assert page.inner_text("#edge-network") == "offline"
    again = page.evaluate("m => modelgateEdge.predict({message: m})", MESSAGES[0])

    # then the browser's labels and probabilities are the server's
    served = served_model_get(name="sms-spam", user=None).model
    online = served.predict([{"message": m} for m in MESSAGES])
    assert shown == online.labels[0] == again["label"]
    assert [e["label"] for e in edge] == online.labels[1:]
    for result, expected in zip(edge, online.probabilities[1:], strict=True):
        for label, p in expected.items():
            assert abs(result["probabilities"][label] - p) <= 1e-4
    assert all(e["version"] == served_sms.version for e in edge)
    assert page.evaluate("modelgateEdge.queue().length") >= 1

    # when the network is back, the queue is reported
    context.set_offline(False)
    page.wait_for_function("modelgateEdge.queue().length === 0")
    page.evaluate("modelgateEdge.report()")  # a second report sends nothing new

    # then each prediction is in the log exactly once, with channel edge
    rows = PredictionLog.objects.filter(source="edge", model_name="sms-spam")
    assert rows.count() == 6
    assert rows.values("request_id").distinct().count() == 6
    assert sorted(r.inputs["message"] for r in rows) == sorted([*MESSAGES, MESSAGES[0]])
    context.close()
