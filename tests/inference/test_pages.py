"""The spam page, the try-any-model page and the batch pages."""

import os

import pytest

from inference.models import PredictionLog


@pytest.fixture
def person(client, make_user):
    user = make_user("dana", roles=["requesters"])
    client.force_login(user)
    return user


def test_spam_page_shows_verdict_and_logs_web_prediction(client, person, served_sms):
    page = client.get("/predict/spam")
    assert page.status_code == 200 and b'name="message"' in page.content
    response = client.post(
        "/predict/spam",
        {"message": "WINNER!! Claim your £900 prize now, call 09061701461"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'class="verdict-label">spam<' in html
    assert "Probability of spam" in html
    log = PredictionLog.objects.get()
    assert (log.source, log.client, log.prediction) == ("web", person, "spam")


def test_spam_page_refuses_bad_input_without_logging(client, person, served_sms):
    response = client.post("/predict/spam", {"message": "x" * 6000})
    assert response.status_code == 400
    assert "longer than" in response.content.decode()
    assert PredictionLog.objects.count() == 0


def test_pages_need_login_and_a_predicting_role(client, make_user, served_sms):
    assert client.get("/predict/spam").status_code == 302
    client.force_login(make_user("vic", roles=["viewers"]))
    assert client.get("/predict/spam").status_code == 403
    assert client.get("/models/sms-spam/try").status_code == 403


def test_try_page_builds_the_form_from_the_signature(client, person, served_tabular):
    from governance.models import ModelVersion

    fields = ModelVersion.objects.get(registered_model__name="breast-cancer").signature[
        "inputs"
    ]
    page = client.get("/models/breast-cancer/try").content.decode()
    assert all(f'name="{f["name"]}"' in page for f in fields)
    data = {f["name"]: "1.5" for f in fields}
    result = client.post("/models/breast-cancer/try", data)
    assert result.status_code == 200
    assert 'id="try-result"' in result.content.decode()
    data[fields[0]["name"]] = "abc"
    bad = client.post("/models/breast-cancer/try", data)
    assert bad.status_code == 400 and "not a number" in bad.content.decode()
    assert PredictionLog.objects.filter(source="web").count() == 1
    assert client.get("/models/unknown/try").status_code == 404
    assert client.get("/models/try").url == "/models/sms-spam/try"


def test_batch_pages_upload_and_show_progress(
    client, person, served_sms, django_capture_on_commit_callbacks
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("in.csv", b"message\nhello\nWIN A PRIZE NOW\n")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/batch/", {"model": "sms-spam", "alias": "production", "file": upload}
        )
    assert response.status_code == 302
    detail = client.get(response.url).content.decode()
    assert "Succeeded" in detail and "2 / 2" in detail
    download = client.get(response.url + "/results")
    assert download.status_code == 200
    assert b"prediction" in b"".join(download.streaming_content)


@pytest.mark.browser
def test_spam_form_in_a_browser(live_server, role_groups, make_user, served_sms):
    from playwright.sync_api import sync_playwright

    if not os.path.exists("/usr/bin/chromium"):
        if os.environ.get("MODELGATE_REQUIRE_BROWSER") == "1":
            pytest.fail("MODELGATE_REQUIRE_BROWSER=1 and /usr/bin/chromium is missing")
        pytest.skip("Chromium is not installed")
    make_user("browser-user", roles=["requesters"], password="pw-browser-1")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
            headless=True,
        )
        try:
            page = browser.new_page()
            page.goto(f"{live_server.url}/accounts/login/?next=/predict/spam")
            page.fill("input[name=username]", "browser-user")
            page.fill("input[name=password]", "pw-browser-1")
            page.click("button[type=submit]")
            page.wait_for_url("**/predict/spam")
            page.fill(
                "#message",
                "URGENT! You have won a 2000 bonus prize. Call 09058094455 now",
            )
            page.click("#spam-form button[type=submit]")
            page.wait_for_selector("#spam-result")
            assert page.inner_text(".verdict-label").strip().lower() == "spam"
            probability = float(page.inner_text(".probability"))
            assert 0.5 < probability <= 1.0
            page.fill("#message", "See you at the station at 7, love you")
            page.click("#spam-form button[type=submit]")
            page.wait_for_selector("#spam-result")
            assert page.inner_text(".verdict-label").strip().lower() == "ham"
        finally:
            browser.close()
    assert PredictionLog.objects.filter(source="web").count() == 2
