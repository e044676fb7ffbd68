import pytest
from django.urls import reverse


@pytest.mark.django_db
def test_health_live_needs_no_login(client):
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_health_ready_reports_each_dependency(client):
    body = client.get("/health/ready").json()
    assert set(body["checks"]) == {"database", "broker", "mlflow"}
    assert body["checks"]["database"]["status"] == "ok"


def test_home_requires_login(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_home_lists_models_versions_metrics_and_test_status(
    client, make_user, sms_model, tabular_model
):
    client.force_login(make_user("victor", roles=["viewers"]))
    html = client.get("/").content.decode()
    assert "sms-spam" in html and "breast-cancer" in html
    assert 'class="badge passed"' in html
    # MCC of the SMS model, rounded to 4 places, is on the page
    from governance.models import ModelVersion

    mcc = ModelVersion.objects.get(
        registered_model__name="sms-spam", version=1
    ).metrics["mcc"]
    assert f"{mcc:.4f}" in html


def test_admin_is_served(client, make_user):
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    assert client.get("/admin/").status_code == 200
