import json
import logging
import subprocess
import sys
from pathlib import Path

from core.logging import JsonFormatter

ROOT = Path(__file__).resolve().parents[2]


def test_json_formatter_writes_one_object_per_line_with_extras():
    record = logging.LogRecord(
        "governance.services",
        logging.WARNING,
        __file__,
        1,
        "apply %s failed",
        ("r1",),
        None,
    )
    record.request_id = "abc"
    line = JsonFormatter().format(record)
    payload = json.loads(line)
    assert payload["message"] == "apply r1 failed"
    assert payload["level"] == "WARNING"
    assert payload["logger"] == "governance.services"
    assert payload["request_id"] == "abc"
    assert "\n" not in line


def test_production_settings_log_json_and_pass_the_deploy_check(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "x" * 20 + "-production-like-secret-key-0123456789abcdef",
        "DJANGO_ALLOWED_HOSTS": "modelgate.example.com",
        "MODELGATE_DATA_DIR": str(tmp_path),
    }
    check = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    probe = (
        "import django, logging; django.setup(); "
        "logging.getLogger('inference.services').warning('hello %s', 'world')"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    line = json.loads(out.stderr.strip().splitlines()[-1])
    assert line["message"] == "hello world"
    assert line["logger"] == "inference.services"
