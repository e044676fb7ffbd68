"""The real servers CI provides. With MODELGATE_REQUIRE_SERVICES=1 these fail
when a server is missing; on a laptop without them they are skipped."""

import pytest
from django.db import connection


@pytest.mark.postgres
@pytest.mark.django_db
def test_database_is_postgresql():
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        assert "PostgreSQL" in cursor.fetchone()[0]


@pytest.mark.redis
def test_redis_answers(redis_client):
    redis_client.set("mg-test:ping", "pong", ex=10)
    assert redis_client.get("mg-test:ping") == b"pong"
