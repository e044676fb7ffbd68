"""A report's Evidently HTML is written to the shared storage by the worker
and served from it by the web page, by name: it works on a storage with no
local path, and a report computed again replaces its page."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import InMemoryStorage, storages
from django.urls import reverse
from django.utils import timezone

from monitoring.models import Report
from monitoring.services.reports import report_execute, report_get_or_create
from tests.monitoring.factories import log_rows, make_monitor, window_frame

pytestmark = pytest.mark.slow


def _local_files() -> set[Path]:
    root = Path(settings.MEDIA_ROOT)
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def _computed_report(tabular_reference) -> Report:
    monitor = make_monitor("breast-cancer", model_version=1, html_report=True)
    end = timezone.now().replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(hours=1)
    log_rows(
        window_frame(tabular_reference, 200, shift={"mean_radius": 2.0}, seed=5),
        model_name="breast-cancer", version=1, start=start, end=end,
    )  # fmt: skip
    report, _ = report_get_or_create(monitor=monitor, start=start, end=end)
    report_execute(report_id=report.pk)
    report.refresh_from_db()
    assert report.status == "succeeded", report.error
    return report


def _page(client, report) -> str:
    response = client.get(reverse("monitoring:report-html", kwargs={"pk": report.pk}))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    return b"".join(response.streaming_content).decode()


def test_the_report_html_lives_in_a_storage_without_local_paths(
    tabular_reference, client, make_user, settings
):
    # given a shared storage that is not a folder
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }
    storage = storages["default"]
    assert isinstance(storage, InMemoryStorage)
    local_before = _local_files()
    # when a report with an HTML page is computed
    report = _computed_report(tabular_reference)
    # then its page is in the storage, by name, and the web page serves it
    name = f"monitoring/reports/report-{report.pk}.html"
    assert report.html_file.name == name and storage.exists(name)
    client.force_login(make_user("victor", roles=["viewers"]))
    page = _page(client, report)
    assert '<header id="modelgate-report-header"' in page
    assert f'href="/monitoring/reports/{report.pk}/"' in page
    # nothing went to the local disk
    assert _local_files() == local_before

    # when the report is computed again (a failed report reset and rerun)
    Report.objects.filter(pk=report.pk).update(status="failed")
    report.refresh_from_db()
    from monitoring.services.reports import report_reset

    assert report_reset(report=report)
    report_execute(report_id=report.pk)
    report.refresh_from_db()
    # then its page is replaced under the same name, with no copy beside it
    assert report.status == "succeeded" and report.html_file.name == name
    assert storage.listdir("monitoring/reports")[1] == [f"report-{report.pk}.html"]
    assert '<header id="modelgate-report-header"' in _page(client, report)


def test_the_report_html_is_a_file_under_the_media_folder_by_default(
    tabular_reference, client, make_user
):
    report = _computed_report(tabular_reference)
    path = Path(settings.MEDIA_ROOT) / report.html_file.name
    assert path.is_file()
    client.force_login(make_user("victor", roles=["viewers"]))
    assert _page(client, report) == path.read_text(encoding="utf-8")
