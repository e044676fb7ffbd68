"""Production settings as the containers run them: static files from the
image's folder, HTTPS redirects on, except for what is called over the
private network (probes, the scraper, MLflow's webhook deliveries)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.deploy.kube import ROOT

PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client
client = Client(raise_request_exception=False)
print(json.dumps({
    "static_root": str(settings.STATIC_ROOT),
    "live": client.get("/health/live").status_code,
    "login": client.get("/accounts/login/").status_code,
    "webhook": client.post("/api/governance/webhooks/mlflow/", data="{}",
                           content_type="application/json").status_code,
}))
"""


def test_production_redirects_to_https_but_not_the_private_network_calls(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "x" * 20 + "-production-like-secret-key-0123456789abcdef",
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "DJANGO_STATIC_ROOT": str(tmp_path / "staticfiles"),
        "MODELGATE_DATA_DIR": str(tmp_path),
        "MLFLOW_WEBHOOK_SECRET": "s3cret",
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["static_root"] == str(tmp_path / "staticfiles")
    assert result["login"] == 301  # plain HTTP from a browser: to HTTPS
    assert result["live"] == 200  # the orchestrator's probe
    # MLflow's deliveries come over the private network as plain HTTP and are
    # HMAC-signed: redirected, they never arrived
    assert result["webhook"] != 301
