import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


def test_failed_logins_are_throttled_per_address(client, make_user, settings):
    make_user("alice", password="right-password-123")
    for _ in range(10):
        response = client.post(
            "/accounts/login/", {"username": "alice", "password": "wrong"}
        )
        assert response.status_code == 200
    blocked = client.post(
        "/accounts/login/", {"username": "alice", "password": "right-password-123"}
    )
    assert blocked.status_code == 429
    assert "Too many failed logins" in blocked.content.decode()
    assert int(blocked["Retry-After"]) > 0
    assert "_auth_user_id" not in client.session


def test_a_successful_login_rotates_the_session_and_logout_ends_it(client, make_user):
    make_user("bob", password="right-password-123")
    client.get("/accounts/login/")
    before = client.cookies.get("sessionid")
    response = client.post(
        "/accounts/login/", {"username": "bob", "password": "right-password-123"}
    )
    assert response.status_code == 302
    after = client.cookies["sessionid"].value
    assert before is None or before.value != after
    assert client.get("/").status_code == 200
    client.post("/accounts/logout/")
    assert client.get("/").status_code == 302
    from django.contrib.sessions.models import Session

    assert not Session.objects.filter(session_key=after).exists()


def test_a_failed_login_keeps_the_username(client, make_user):
    make_user("alice", password="right-password-123")
    response = client.post(
        "/accounts/login/", {"username": "alice", "password": "wrong"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="username" id="id_username"' in html
    assert 'value="alice"' in html
    # the password field takes the focus, so the person retypes only that
    assert 'autocomplete="current-password" required autofocus' in html
