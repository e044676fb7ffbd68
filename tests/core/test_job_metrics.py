"""One timer and one outcome vocabulary for every Celery job's duration
(``core.metrics.job_timed``): a governance, a monitoring and an inference job
all write ``ok`` or ``error`` into JOB_DURATION."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from core import metrics


def _count(task: str, outcome: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "modelgate_job_duration_seconds_count", {"task": task, "outcome": outcome}
        )
        or 0.0
    )


def _outcomes() -> set[str]:
    return {
        sample.labels["outcome"]
        for family in REGISTRY.collect()
        if family.name == "modelgate_job_duration_seconds"
        for sample in family.samples
        if sample.name.endswith("_count")
    }


def _failures(task: str) -> float:
    return (
        REGISTRY.get_sample_value("modelgate_job_failures_total", {"task": task}) or 0.0
    )


def test_job_timed_records_ok_and_error():
    before_ok, before_err = _count("t.ok", "ok"), _count("t.err", "error")
    with metrics.job_timed("t.ok"):
        pass
    with pytest.raises(ValueError, match="boom"), metrics.job_timed("t.err"):
        raise ValueError("boom")
    with metrics.job_timed("t.err") as timer:
        timer.failed()  # ended failed without raising
    assert _count("t.ok", "ok") == before_ok + 1
    assert _count("t.err", "error") == before_err + 2
    assert _failures("t.err") >= 2


@pytest.mark.django_db
def test_governance_monitoring_and_inference_jobs_share_one_vocabulary(
    sms_model, make_user, monkeypatch
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from governance.services.serving import alias_move_record
    from governance.tasks import promotion_housekeeping
    from inference.services.batch import batch_job_create
    from inference.tasks import batch_score
    from monitoring.tasks import rollups_prune

    alias_move_record(
        name="sms-spam",
        alias="production",
        version=sms_model.version,
        actor="tests",
        reason="test setup",
    )
    job = batch_job_create(
        model_name="sms-spam",
        client=make_user("metrics-client", roles=["api_clients"]),
        upload=SimpleUploadedFile("a.csv", b"message\nhi\n", content_type="text/csv"),
        enqueue=False,
    )
    tasks = {
        "governance.tasks.promotion_housekeeping": promotion_housekeeping,
        "monitoring.tasks.rollups_prune": rollups_prune,
        "inference.tasks.batch_score": batch_score,
    }
    before = {name: _count(name, "ok") for name in tasks}
    # when one job of each app runs
    promotion_housekeeping.apply().get()
    rollups_prune.apply().get()
    assert batch_score.apply(args=[str(job.pk)]).get() == "succeeded"
    # then each wrote one "ok" duration, and the metric knows no other words
    for name in tasks:
        assert _count(name, "ok") == before[name] + 1, name
    assert _outcomes() <= set(metrics.JOB_OUTCOMES)
