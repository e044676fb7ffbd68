"""Training against a real MLflow tracking server (HTTP), not only a local store."""

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from core import registry
from trainer.config import load_config
from trainer.services import training_run

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path, settings):
    port = free_port()
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"), "server",
            "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
            "--artifacts-destination", str(tmp_path / "artifacts"),
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail("the MLflow server did not start")
            time.sleep(0.3)
    settings.MLFLOW_TRACKING_URI = url
    settings.MLFLOW_REGISTRY_URI = url
    yield url
    process.terminate()
    process.wait(timeout=20)


@pytest.mark.slow
@pytest.mark.django_db
def test_training_registers_through_a_tracking_server(mlflow_server):
    config = load_config(
        ROOT / "params-tabular.yaml",
        ["reference.cv_folds=2", "outliers.n_estimators=20"],
    )
    result = training_run(config=config, progress=lambda _m: None)
    version = registry.version_get("breast-cancer", result.version)
    assert version.tags["modelgate.tests"] == "passed"
    assert version.source.startswith("models:/m-")
    assert registry.version_signature("breast-cancer", result.version)["inputs"]
