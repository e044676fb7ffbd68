"""Late labels written by a feedback transaction that commits after a run of
the late-label job are still picked up (real PostgreSQL, two connections)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from monitoring.calculations.windows import last_complete_window
from monitoring.models import PerformanceWindow
from monitoring.services.performance import performance_late_labels_refresh
from tests.monitoring.factories import log_rows, make_monitor, window_frame

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_labels_committed_after_a_run_are_picked_up_by_the_next(
    tabular_reference, make_user, settings
):
    from django.utils import timezone

    from inference.services.feedback import feedback_bulk_record

    # given no lag at all: only the open-transaction guard protects the labels
    settings.MONITORING = {**settings.MONITORING, "ROLLUP_LAG_SECONDS": 0}
    client = make_user("labeller")
    monitor = make_monitor("breast-cancer", model_version=1, min_label_coverage=0.5)
    start, end = last_complete_window(timezone.now(), 60)
    frame = window_frame(tabular_reference, 200, seed=5)
    rows = log_rows(
        frame,
        model_name="breast-cancer",
        version=1,
        start=start,
        end=end,
        client=client,
    )
    items = [
        {"prediction_id": str(p.prediction_id), "label": str(frame["target"][i])}
        for i, p in enumerate(rows[:150])
    ]
    written, release, outcome = threading.Event(), threading.Event(), {}

    def label_in_a_long_transaction():
        try:
            with transaction.atomic():
                outcome["results"] = feedback_bulk_record(items=items, client=client)
                written.set()
                release.wait(60)
        finally:
            connection.close()

    labeller = threading.Thread(target=label_in_a_long_transaction)
    labeller.start()
    try:
        assert written.wait(60), "the feedback call did not finish"
        # when the job runs while those labels are written but not committed
        assert performance_late_labels_refresh() == 0
    finally:
        release.set()
        labeller.join(60)
    assert {r["status"] for r in outcome["results"]} == {"created"}
    # then the next run recomputes the window with all 150 labels
    assert performance_late_labels_refresh() == 1
    window = PerformanceWindow.objects.get(monitor=monitor, window_start=start)
    assert window.labelled == 150
    assert window.predictions == 200
    assert window.coverage == pytest.approx(0.75)
