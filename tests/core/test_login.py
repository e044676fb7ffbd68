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


def test_the_admin_login_is_throttled_like_the_site_login(client, make_user):
    make_user("root", password="right-password-123", is_staff=True)
    for _ in range(10):
        response = client.post(
            "/admin/login/", {"username": "root", "password": "wrong"}
        )
        assert response.status_code == 200
    blocked = client.post(
        "/admin/login/", {"username": "root", "password": "right-password-123"}
    )
    assert blocked.status_code == 429
    assert int(blocked["Retry-After"]) > 0
    assert "Too many failed logins" in blocked.content.decode()
    assert "_auth_user_id" not in client.session


def test_both_login_forms_share_one_count(client, make_user):
    make_user("root", password="right-password-123", is_staff=True)
    for path in ["/accounts/login/"] * 5 + ["/admin/login/"] * 5:
        client.post(path, {"username": "root", "password": "wrong"})
    for path in ("/accounts/login/", "/admin/login/"):
        response = client.post(
            path, {"username": "root", "password": "right-password-123"}
        )
        assert response.status_code == 429, path


def test_a_successful_admin_login_clears_the_count(client, make_user):
    make_user("root", password="right-password-123", is_staff=True)
    for _ in range(9):
        client.post("/admin/login/", {"username": "root", "password": "wrong"})
    ok = client.post(
        "/admin/login/", {"username": "root", "password": "right-password-123"}
    )
    assert ok.status_code == 302
    client.logout()
    for _ in range(10):
        response = client.post(
            "/admin/login/", {"username": "root", "password": "wrong"}
        )
        assert response.status_code == 200


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_30_parallel_attempts_check_at_most_the_limit_of_passwords(
    make_user, settings, redis_url
):
    """The counter is taken before the password is checked, atomically in
    Redis: 30 simultaneous wrong passwords run at most 10 password checks
    (a read-then-write counter let 16 through)."""
    import threading
    import uuid

    from django.contrib.auth.signals import user_login_failed
    from django.db import connection
    from django.test import Client

    settings.CACHES = {
        "default": {
            "BACKEND": "core.cache.TolerantRedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": f"mg-test:login:{uuid.uuid4().hex}",
        }
    }
    make_user("alice", password="right-password-123")
    checks = []
    lock = threading.Lock()

    def counted(sender, **kwargs):
        with lock:
            checks.append(1)

    user_login_failed.connect(counted)
    barrier = threading.Barrier(30)
    statuses = []

    def attempt():
        try:
            browser = Client()
            barrier.wait()
            response = browser.post(
                "/accounts/login/", {"username": "alice", "password": "wrong"}
            )
            with lock:
                statuses.append(response.status_code)
        finally:
            connection.close()

    try:
        threads = [threading.Thread(target=attempt) for _ in range(30)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        user_login_failed.disconnect(counted)
        cache.clear()
    assert len(statuses) == 30
    assert len(checks) <= 10
    assert statuses.count(200) == len(checks)
    assert statuses.count(429) == 30 - len(checks)
