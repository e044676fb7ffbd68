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


def test_a_burst_across_a_window_boundary_gets_the_limit_once(monkeypatch):
    """Ten wrong passwords just before a minute turns and ten just after: a
    per-minute counter alone would check all twenty (twice the limit, as a
    30-attempt burst in the live stack once did); the sliding count checks
    the first ten only, and refuses the second ten."""
    from types import SimpleNamespace

    from core import throttling

    throttle = throttling.LoginThrottle("10/minute")
    boundary = 1_800_000_000.0  # a whole minute
    now = [boundary - 0.5]
    # the throttle's clock only: the cache keeps the real one for expiry
    monkeypatch.setattr(throttling, "time", SimpleNamespace(time=lambda: now[0]))
    waits = [throttle.attempt("10.0.0.1", "alice") for _ in range(10)]
    now[0] = boundary + 0.5
    waits += [throttle.attempt("10.0.0.1", "alice") for _ in range(10)]
    assert waits[:10] == [0] * 10
    assert all(wait > 0 for wait in waits[10:])


def test_the_previous_window_weighs_what_the_sliding_period_still_covers():
    from core.throttling import sliding_count

    assert sliding_count(3, 10, 0.0) == 13
    assert sliding_count(3, 10, 0.5) == 8
    assert sliding_count(3, 10, 1.0) == 3


def test_retry_after_is_when_one_more_attempt_fits():
    from core.throttling import retry_after, sliding_count

    # 11 attempts this window, 30 s in: next window, once this one weighs
    # 9/11 or less: 30 s to the turn + 60 * (2/11) s
    wait = retry_after(11, 0, 0.5, 10, 60)
    assert wait == 41
    assert sliding_count(1, 11, 11 / 60) <= 10
    assert sliding_count(1, 11, 10 / 60) > 10
    # 2 attempts here, 10 in the previous window, at its start: one more fits
    # once the previous weighs 7, i.e. 30 % into this window
    assert retry_after(2, 10, 0.0, 10, 60) == 18
    assert sliding_count(3, 10, 0.3) <= 10
