import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from config.schedules import SCHEDULES


@pytest.mark.django_db
def test_roles_exist_after_migrations():
    from django.contrib.auth.models import Group

    from core.roles import Role

    assert set(Group.objects.values_list("name", flat=True)) >= set(Role.values)


@pytest.mark.django_db
def test_seed_demo_prints_credentials_once(settings, tmp_path, capsys):
    settings.DATA_DIR = tmp_path
    call_command("seed_demo")
    first = capsys.readouterr().out
    call_command("seed_demo")
    second = capsys.readouterr().out
    assert "alice" in first and "API token" in first
    assert "exist already" in second and "alice " not in second
    user = get_user_model().objects.get(username="carol")
    assert list(user.groups.values_list("name", flat=True)) == [
        "production_approvers",
        "viewers",
    ]
    assert (tmp_path / "demo-credentials.txt").stat().st_mode & 0o777 == 0o600


@pytest.mark.django_db
def test_seed_demo_on_a_fresh_database_replaces_stale_logins(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    path = tmp_path / "demo-credentials.txt"
    path.write_text("Demo users (from a database since deleted)\n  alice  old-pass\n")
    call_command("seed_demo")
    text = path.read_text()
    assert "old-pass" not in text and text.count("Demo users") == 1
    # one user missing (deleted): only its new login is added to the others
    get_user_model().objects.filter(username="victor").delete()
    call_command("seed_demo")
    after = path.read_text()
    assert after.startswith(text) and after.count("victor") == 2
    assert "alice" not in after[len(text) :]


@pytest.mark.django_db
def test_setup_periodic_tasks_is_idempotent():
    call_command("setup_periodic_tasks")
    call_command("setup_periodic_tasks")
    names = set(PeriodicTask.objects.values_list("name", flat=True))
    assert {s.name for s in SCHEDULES} <= names
    assert PeriodicTask.objects.filter(
        name__in=[s.name for s in SCHEDULES]
    ).count() == len(SCHEDULES)
