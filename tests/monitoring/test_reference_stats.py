"""Reference statistics of drift: computed once per (version, method
configuration), reused by every report, recomputed when the configuration
changes; reports are the same with or without them."""

from __future__ import annotations

import json
from datetime import timedelta
from unittest import mock

import pytest

from monitoring.calculations import report as calc
from monitoring.calculations.methods import CAT, NUM
from monitoring.calculations.report import ReportConfig, report_compute
from monitoring.models import ReferenceStatistics
from monitoring.services import reference as service


def _config(kinds, **kw) -> ReportConfig:
    return ReportConfig(
        feature_kinds=kinds,
        methods={NUM: ("wasserstein", 0.1), CAT: ("jensenshannon", 0.1)},
        **kw,
    )


def test_report_from_stored_statistics_equals_the_report_from_the_sample():
    reference, current, kinds = calc.synthetic_frames(
        2000, drifted=("num_3", "cat_1"), seed=3
    )
    config = _config(kinds)
    plain = report_compute(reference, current, config)
    stats = calc.reference_statistics(reference, config)
    stored = json.loads(json.dumps(stats))  # as read back from the database
    cached = report_compute(reference, current, config, reference_stats=stored)
    assert cached == plain
    assert sorted(cached["feature_drift"]["drifted_columns"]) == ["cat_1", "num_3"]


@pytest.mark.django_db
def test_second_report_reuses_the_statistics_and_a_new_configuration_recomputes():
    reference, current, kinds = calc.synthetic_frames(500, seed=1)
    config = _config(kinds)
    with mock.patch.object(
        service, "reference_statistics", wraps=calc.reference_statistics
    ) as compute:
        for _ in range(3):
            stats = service.reference_statistics_get(
                model_name="m", model_version=1, config=config, reference=reference
            )
            report_compute(reference, current, config, reference_stats=stats)
        assert compute.call_count == 1
        changed = _config(kinds, overrides={"num_0": {"method": "ks"}})
        service.reference_statistics_get(
            model_name="m", model_version=1, config=changed, reference=reference
        )
        service.reference_statistics_get(
            model_name="m", model_version=2, config=config, reference=reference
        )
        assert compute.call_count == 3
    assert ReferenceStatistics.objects.count() == 3


@pytest.mark.django_db
def test_reports_of_a_monitor_compute_the_reference_statistics_once(tabular_reference):
    from django.utils import timezone

    from monitoring.calculations.windows import last_complete_window
    from monitoring.choices import ReportStatus
    from monitoring.models import Report
    from monitoring.services import reports as report_services
    from tests.monitoring.factories import log_rows, make_monitor, window_frame

    monitor = make_monitor("breast-cancer", model_version=1)
    end = last_complete_window(timezone.now(), 60)[1]

    with mock.patch.object(
        service, "reference_statistics", wraps=calc.reference_statistics
    ) as compute:
        for hours_ago in (2, 1):
            start = end - timedelta(hours=hours_ago)
            frame = window_frame(tabular_reference, 300, seed=hours_ago)
            log_rows(
                frame,
                model_name="breast-cancer",
                version=1,
                start=start,
                end=start + timedelta(hours=1),
            )
            report, _ = report_services.report_get_or_create(
                monitor=monitor, start=start, end=start + timedelta(hours=1)
            )
            report_services.report_execute(report_id=report.pk)
            assert Report.objects.get(pk=report.pk).status == ReportStatus.SUCCEEDED
    assert compute.call_count == 1
