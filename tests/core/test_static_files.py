"""Static files as `make run` and production serve them: names carrying a hash
of the content, gzipped, cached for a year; a favicon on every page."""

import re

import pytest
from django.core.management import call_command
from django.test import Client

MANIFEST = "whitenoise.storage.CompressedManifestStaticFilesStorage"


@pytest.fixture
def served_static(settings, tmp_path):
    """collectstatic with the serving storage into a fresh folder; a client
    created after it gets a whitenoise that reads that folder."""
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": MANIFEST},
    }
    call_command("collectstatic", interactive=False, verbosity=0)
    return settings.STATIC_ROOT


def test_pages_refer_to_hashed_files_served_compressed_and_long_cached(
    served_static, make_user
):
    client = Client()
    client.force_login(make_user("victor", roles=["viewers"]))
    html = client.get("/monitoring/").content.decode()
    hashed = re.findall(r"/static/[\w/.-]+\.[0-9a-f]{12}\.(?:css|js)", html)
    assert any("/css/modelgate." in url for url in hashed), hashed
    plotly = next(url for url in hashed if "/vendor/plotly-basic.min." in url)
    assert "/static/vendor/plotly-basic.min.js" not in html

    response = client.get(plotly, HTTP_ACCEPT_ENCODING="gzip, deflate")
    body = b"".join(response.streaming_content)
    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    assert "immutable" in response["Cache-Control"]
    max_age = re.search(r"max-age=(\d+)", response["Cache-Control"])[1]
    assert int(max_age) >= 86400 * 365
    # the smaller Plotly build (scatter and bar charts), compressed
    assert len(body) < 450_000
    assert (served_static / "vendor" / "plotly-basic.min.js").stat().st_size < 1_200_000


def test_every_page_has_a_favicon(served_static, make_user):
    client = Client()
    for url in ("/accounts/login/", "/api/docs/", "/admin/login/"):
        html = client.get(url).content.decode()
        icon = re.search(
            r'rel="icon" href="(/static/favicon\.[0-9a-f]{12}\.svg)"', html
        )
        assert icon, url
        assert client.get(icon[1]).status_code == 200
