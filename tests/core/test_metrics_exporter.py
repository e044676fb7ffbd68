"""The metrics exporter of processes without a web server (a Celery worker or
the stream consumer in a container of its own) and its access rule."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from core import metrics


def _get(server, path="/metrics", token=None) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{server.server_port}{path}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def exporter(settings):
    settings.MONITORING = {**settings.MONITORING, "METRICS_TOKEN": "s3cret"}
    server = metrics.serve_metrics(0, host="127.0.0.1")
    yield server
    server.shutdown()
    server.server_close()


def test_exporter_serves_this_process_metrics_to_the_token(exporter):
    # given: a job ran in this process
    metrics.JOB_FAILURES.labels("exporter-test").inc()
    # when / then
    status, text = _get(exporter, token="s3cret")
    assert status == 200
    assert 'modelgate_job_failures_total{task="exporter-test"} 1.0' in text


@pytest.mark.parametrize("token", [None, "nope"])
def test_exporter_refuses_without_the_token(exporter, token):
    status, text = _get(exporter, token=token)
    assert status == 401
    assert "modelgate_" not in text


def test_exporter_answers_only_metrics(exporter):
    assert _get(exporter, path="/admin/", token="s3cret")[0] == 404


def test_no_token_configured_refuses_every_bearer(settings):
    settings.MONITORING = {**settings.MONITORING, "METRICS_TOKEN": ""}
    assert metrics.scraper_access(authorization="Bearer ", client_ip="") is False
    assert metrics.scraper_access(authorization="", client_ip="10.0.0.9") is None


def test_listed_address_needs_no_token(settings):
    settings.MONITORING = {**settings.MONITORING, "METRICS_ALLOWED_IPS": ["10.0.0.5"]}
    assert metrics.scraper_access(authorization="", client_ip="10.0.0.5") is True


def test_worker_serves_metrics_only_when_a_port_is_set(settings, monkeypatch):
    from config.celery_app import _serve_metrics

    started = []
    monkeypatch.setattr(metrics, "serve_metrics", lambda port: started.append(port))
    settings.MONITORING = {**settings.MONITORING, "METRICS_PORT": 0}
    _serve_metrics()
    settings.MONITORING = {**settings.MONITORING, "METRICS_PORT": 9100}
    _serve_metrics()
    assert started == [9100]
