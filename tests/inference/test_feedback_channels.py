"""Every channel's predictions can receive their labels: REST and on-demand
batch predictions from their client, stream and scheduled-batch predictions
from the configured owning account or the label roles; each label reaches
the performance window the late-label job recomputes."""

from __future__ import annotations

import csv
import io
import json
import uuid

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured

from inference.models import BatchJob, PredictionLog
from inference.services.batch import batch_job_create, batch_job_run
from inference.services.stream import StreamConfig, StreamConsumer
from monitoring.models import PerformanceWindow
from monitoring.services.performance import performance_late_labels_refresh
from tests.inference.conftest import token_client
from tests.monitoring.factories import make_monitor

MESSAGES = ["see you at 7", "WINNER! claim your prize now", "ok thanks", "call me"]


@pytest.fixture
def monitor(served_sms):
    return make_monitor("sms-spam", model_version=1)


@pytest.fixture
def streams(redis_client, redis_url):
    tag = uuid.uuid4().hex[:8]
    config = StreamConfig(
        redis_url=redis_url,
        input=f"mg-test:{tag}:in",
        output=f"mg-test:{tag}:out",
        dead_letter=f"mg-test:{tag}:dead",
        group="mg-test",
        consumer="c1",
        block_ms=200,
    )
    yield config
    for key in (config.input, config.output, config.dead_letter):
        redis_client.delete(key)


def _csv_bytes(messages: list[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([["message"], *[[m] for m in messages]])
    return out.getvalue().encode()


def _label(api, prediction_ids: list[str], label: str = "ham") -> dict:
    response = api.post(
        "/api/v1/feedback",
        {"items": [{"prediction_id": p, "label": label} for p in prediction_ids]},
        format="json",
    )
    assert response.status_code == 200, response.content
    return response.json()


def _labelled(monitor) -> tuple[int, int]:
    """(labelled, predictions) over the monitor's performance windows."""
    windows = PerformanceWindow.objects.filter(monitor=monitor, model_version=1)
    return sum(w.labelled for w in windows), sum(w.predictions for w in windows)


def _stream_predict(streams, redis_client) -> list[str]:
    for message in MESSAGES:
        redis_client.xadd(streams.input, {"inputs": json.dumps({"message": message})})
    StreamConsumer(streams).run(idle_exit_seconds=0.5)
    return [
        p["prediction_id"]
        for _id, fields in redis_client.xrange(streams.output)
        for p in json.loads(fields[b"result"])["predictions"]
    ]


def test_rest_predictions_are_labelled_by_their_client(
    api, other_api, client_user, monitor
):
    # given three predictions of a client over REST
    body = api.post(
        "/api/v1/models/sms-spam/predict",
        {"inputs": [{"message": m} for m in MESSAGES[:3]]},
        format="json",
    ).json()
    ids = [p["prediction_id"] for p in body["predictions"]]
    # when another client tries to label them, then the client does
    assert _label(other_api, ids)["errors"] == 3
    assert _label(api, ids)["created"] == 3
    # then the recomputed performance window counts the three labels
    assert performance_late_labels_refresh() >= 1
    assert _labelled(monitor) == (3, 3)


def test_batch_predictions_are_labelled_by_the_jobs_client(
    api, client_user, make_user, monitor
):
    # given an on-demand batch job of a client
    from django.core.files.uploadedfile import SimpleUploadedFile

    job = batch_job_create(
        model_name="sms-spam",
        client=client_user,
        upload=SimpleUploadedFile("in.csv", _csv_bytes(MESSAGES), "text/csv"),
        enqueue=False,
    )
    assert batch_job_run(job_id=job.pk).status == "succeeded"
    ids = [
        str(p)
        for p in PredictionLog.objects.filter(batch_id=job.pk).values_list(
            "prediction_id", flat=True
        )
    ]
    # when a label role (not the job's client) tries: a client's own batch is
    # not a channel without a caller, so it is not found
    requester = token_client(make_user("ds", roles=["requesters"]))
    assert _label(requester, ids)["errors"] == 4
    assert _label(api, ids)["created"] == 4
    # then
    assert performance_late_labels_refresh() >= 1
    assert _labelled(monitor) == (4, 4)


@pytest.mark.redis
def test_stream_predictions_are_labelled_by_the_stream_owner_and_label_roles(
    make_user, other_api, monitor, streams, redis_client, settings
):
    # given a stream consumer whose predictions belong to a configured account
    owner = make_user("stream-owner", roles=["api_clients"])
    settings.INFERENCE = {**settings.INFERENCE, "STREAM_CLIENT": "stream-owner"}
    streams.client = django_settings.INFERENCE["STREAM_CLIENT"]
    ids = _stream_predict(streams, redis_client)
    assert len(ids) == 4
    logged = PredictionLog.objects.filter(source="stream")
    assert set(logged.values_list("client_id", flat=True)) == {owner.pk}
    # when another API client tries, then the owner and a label role label them
    assert _label(other_api, ids)["errors"] == 4
    assert _label(token_client(owner), ids[:2])["created"] == 2
    ops = token_client(make_user("on-call", roles=["ops"]))
    assert _label(ops, ids[2:], label="spam")["created"] == 2
    viewer = token_client(make_user("viewer", roles=["viewers"]))
    assert _label_status(viewer, ids[0]) == 403
    # then the recomputed window holds all four labels
    assert performance_late_labels_refresh() >= 1
    assert _labelled(monitor) == (4, 4)


def _label_status(api, prediction_id: str) -> int:
    return api.post(
        f"/api/v1/predictions/{prediction_id}/feedback", {"label": "ham"}, format="json"
    ).status_code


@pytest.mark.redis
def test_stream_predictions_without_an_owner_are_labelled_by_the_label_roles(
    api, make_user, monitor, streams, redis_client
):
    # given the default: no owning account
    ids = _stream_predict(streams, redis_client)
    assert set(
        PredictionLog.objects.filter(source="stream").values_list(
            "client_id", flat=True
        )
    ) == {None}
    # when an API client tries, then a data scientist labels them
    assert _label(api, ids)["errors"] == 4
    requester = token_client(make_user("ds", roles=["requesters"]))
    assert _label(requester, ids)["created"] == 4
    assert performance_late_labels_refresh() >= 1
    assert _labelled(monitor) == (4, 4)


def test_scheduled_batch_predictions_are_labelled_by_the_schedule_owner(
    make_user, other_api, monitor, settings
):
    from inference.tasks import batch_score_scheduled

    # given a scheduled batch job owned by the configured account
    owner = make_user("nightly", roles=["api_clients"])
    settings.INFERENCE = {**settings.INFERENCE, "SCHEDULED_BATCH_CLIENT": "nightly"}
    folder = settings.INFERENCE["BATCH_ALLOWED_DIRS"][0]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"nightly-{uuid.uuid4().hex[:6]}.csv"
    path.write_bytes(_csv_bytes(MESSAGES))
    status = batch_score_scheduled.apply(
        kwargs={"path": str(path), "model": "sms-spam"}
    ).get()
    assert status == "succeeded"
    job = BatchJob.objects.get()
    assert job.client == owner
    ids = [
        str(p)
        for p in PredictionLog.objects.filter(batch_id=job.pk).values_list(
            "prediction_id", flat=True
        )
    ]
    # when another client tries, then the owner and a label role label them
    assert _label(other_api, ids)["errors"] == 4
    assert _label(token_client(owner), ids[:1])["created"] == 1
    ops = token_client(make_user("on-call", roles=["ops"]))
    assert _label(ops, ids[1:])["created"] == 3
    # then
    assert performance_late_labels_refresh() >= 1
    assert _labelled(monitor) == (4, 4)


def test_an_owner_that_is_no_active_user_is_refused(served_sms, streams, settings):
    # a stream consumer refuses to start
    streams.client = "nobody"
    with pytest.raises(ImproperlyConfigured, match="INFERENCE_STREAM_CLIENT"):
        StreamConsumer(streams)
    # a scheduled run fails before creating a job
    from inference.tasks import batch_score_scheduled

    settings.INFERENCE = {**settings.INFERENCE, "SCHEDULED_BATCH_CLIENT": "nobody"}
    folder = settings.INFERENCE["BATCH_ALLOWED_DIRS"][0]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "nightly-none.csv"
    path.write_bytes(_csv_bytes(MESSAGES))
    with pytest.raises(ImproperlyConfigured, match="INFERENCE_SCHEDULED_BATCH_CLIENT"):
        batch_score_scheduled.apply(
            kwargs={"path": str(path), "model": "sms-spam"}
        ).get()
    assert not BatchJob.objects.exists()
