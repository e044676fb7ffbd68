"""The top bar shows each role the pages it can use; refusals and unknown
addresses get the site's own pages, which say why and where to go."""

from __future__ import annotations

import re

import pytest
from django.test import RequestFactory
from django.utils import timezone
from django.views.defaults import server_error

from core.management.commands.seed_demo import DEMO_USERS
from monitoring.calculations.rules import Outcome
from monitoring.services.alerts import alert_fire
from tests.monitoring.factories import add_rule, make_monitor

PREDICT = {"Spam checker", "Try a model", "Batch"}


@pytest.fixture
def demo_users(make_user):
    """The demo users of `make run`, with the roles and staff flags seed_demo gives."""
    users = {}
    for username, (roles, superuser, _) in DEMO_USERS.items():
        users[username] = make_user(
            username,
            roles=[r.value for r in roles],
            is_staff=superuser or bool(roles and roles != ["api_clients"]),
            is_superuser=superuser,
        )
    return users


def nav(html: str) -> dict[str, str]:
    bar = html[html.index("<nav>") : html.index("</nav>")]
    return {
        label: url
        for url, label in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', bar)
    }


@pytest.mark.parametrize(
    ("username", "sees", "hidden"),
    [
        ("victor", {"Models", "Registry", "Monitoring", "API", "Admin"}, PREDICT),
        ("bob", {"Registry", "Monitoring", "Admin"}, PREDICT),
        ("carol", {"Registry", "Monitoring", "Admin"}, PREDICT),
        ("alice", {"Monitoring", "Admin"} | PREDICT, set()),
        ("erin", {"Monitoring", "Admin"} | PREDICT, set()),
        ("admin", {"Monitoring", "Admin"} | PREDICT, set()),
        (
            "demo-client",
            {"Models", "Registry", "API"} | PREDICT,
            {"Monitoring", "Admin"},
        ),
    ],
)
def test_each_role_sees_the_links_it_can_use(
    client, demo_users, username, sees, hidden
):
    client.force_login(demo_users[username])
    links = nav(client.get("/").content.decode())
    assert sees <= set(links), links
    assert not hidden & set(links), links


@pytest.mark.parametrize("username", list(DEMO_USERS))
def test_no_link_of_the_bar_answers_403(client, demo_users, username):
    client.force_login(demo_users[username])
    for label, url in nav(client.get("/").content.decode()).items():
        response = client.get(url)
        assert response.status_code not in (401, 403), (label, url)


def test_a_refused_page_is_styled_says_why_and_where_to_go(client, demo_users):
    client.force_login(demo_users["victor"])
    response = client.get("/predict/spam")
    html = response.content.decode()
    assert response.status_code == 403
    assert 'class="topbar"' in html and "modelgate." in html  # the site's layout
    assert "Sending predictions needs one of the roles" in html  # why
    assert "victor" in html
    where = html[html.index('<ul class="where">') :]
    assert 'href="/"' in where and 'href="/monitoring/"' in where
    assert 'href="/predict/spam"' not in html  # not offered again


def test_monitoring_refusals_say_why(client, demo_users):
    client.force_login(demo_users["demo-client"])
    response = client.get("/monitoring/")
    assert response.status_code == 403
    assert "API client accounts read the API instead" in response.content.decode()


def test_an_unknown_address_gets_the_site_404_without_the_url_list(client, demo_users):
    client.force_login(demo_users["alice"])
    response = client.get("/no-such-page/")
    html = response.content.decode()
    assert response.status_code == 404
    assert 'class="topbar"' in html and "Nothing here" in html
    assert "/no-such-page/" in html and 'href="/registry/"' in html
    assert "URLconf" not in html and "Resolver404" not in html


def test_the_api_keeps_json_404s(client, demo_users):
    client.force_login(demo_users["alice"])
    response = client.get("/api/no-such-endpoint/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_the_500_page_is_in_the_layout_with_a_way_on():
    response = server_error(RequestFactory().get("/"))
    html = response.content.decode()
    assert response.status_code == 500
    assert 'class="topbar"' in html and "Something went wrong" in html
    assert 'href="/"' in html


def test_ops_get_the_monitoring_admin_the_docs_promise(client, demo_users):
    # given a monitor with an open alert (the lists show actions only with rows)
    monitor = make_monitor("sms-spam")
    alert_fire(
        rule=add_rule(monitor, "drift_share_above", threshold=0.1),
        outcome=Outcome(True, 0.4, "drift share 40% above 10%"),
        version=1,
        report=None,
        now=timezone.now(),
    )
    client.force_login(demo_users["erin"])
    index = client.get("/admin/").content.decode()
    for url in ("/admin/monitoring/monitor/", "/admin/monitoring/report/",
                "/admin/monitoring/alert/"):  # fmt: skip
        assert f'href="{url}"' in index
        assert client.get(url).status_code == 200, url
    monitors = client.get("/admin/monitoring/monitor/").content.decode()
    assert "Run a report now for the last complete window" in monitors
    alerts = client.get("/admin/monitoring/alert/").content.decode()
    assert "Acknowledge" in alerts and "Snooze for 1 hour" in alerts
    # editing monitors stays with administrators
    assert client.get("/admin/monitoring/monitor/add/").status_code == 403
    assert "delete_selected" not in monitors


def test_other_roles_get_no_monitoring_admin(client, demo_users):
    client.force_login(demo_users["victor"])
    assert 'href="/admin/monitoring/' not in client.get("/admin/").content.decode()
    response = client.get("/admin/monitoring/alert/")
    assert response.status_code == 403
    assert 'class="topbar"' in response.content.decode()
