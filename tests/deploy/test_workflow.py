"""The CI/CD workflow: valid against GitHub's workflow schema (vendored by
check-jsonschema, offline), and it keeps the pipeline's promises: tests with
PostgreSQL and Redis, an image scanned and pushed under the commit SHA,
staging from main, production from a tag behind an approval, and no MLflow
alias ever moved by the pipeline."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import yaml

from tests.deploy.kube import KUBERNETES, ROOT, kubectl

WORKFLOW = ROOT / ".github" / "workflows" / "ci-cd.yml"


def _schema_check(path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema",
         "vendor.github-workflows", str(path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _workflow() -> dict:
    # PyYAML reads the key `on` as True
    data = yaml.safe_load(WORKFLOW.read_text())
    data["on"] = data.pop(True)
    return data


def test_workflow_is_valid_for_github():
    done = _schema_check(WORKFLOW)
    assert done.returncode == 0, done.stdout + done.stderr


def test_schema_check_catches_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  test:\n    steps: [{uses: x}]\n"
    )  # no runs-on
    assert _schema_check(broken).returncode != 0


def test_tests_run_against_postgres_and_redis():
    test = _workflow()["jobs"]["test"]
    assert {"postgres", "redis"} <= set(test["services"])
    assert any("bash .ci/run" in step.get("run", "") for step in test["steps"])


def test_image_is_scanned_smoke_tested_and_pushed_under_the_commit_sha():
    image = _workflow()["jobs"]["image"]
    assert image["needs"] == "test"
    steps = image["steps"]
    names = [s.get("uses", "") + s.get("run", "") for s in steps]
    scan = next(i for i, s in enumerate(names) if "trivy" in s)
    smoke = next(i for i, s in enumerate(names) if "make compose-check" in s)
    push = next(i for i, s in enumerate(names) if "docker push" in s)
    assert scan < push and smoke < push
    assert steps[scan]["with"]["exit-code"] == "1"
    assert "${GITHUB_SHA}" in names[1] or "github.sha" in names[1]


def test_staging_from_main_production_from_a_tag_behind_approval():
    jobs = _workflow()["jobs"]
    assert "refs/heads/main" in jobs["deploy-staging"]["if"]
    production = jobs["deploy-production"]
    assert "startsWith(github.ref, 'refs/tags/v')" in production["if"]
    assert production["environment"] == "production"  # required reviewers
    for job, overlay in (
        ("deploy-staging", "staging"),
        ("deploy-production", "production"),
    ):
        runs = " ".join(s.get("run", "") for s in jobs[job]["steps"])
        assert f"deploy/kubernetes/deploy.sh {overlay} " in runs


def test_pipeline_never_moves_an_mlflow_alias():
    code = [
        line
        for path in (WORKFLOW, KUBERNETES / "deploy.sh")
        for line in path.read_text().splitlines()
        if not line.lstrip().startswith("#")
    ]
    pattern = re.compile(
        r"registered_model_alias|registered-models/alias|MlflowClient|import mlflow"
        r"|api/governance/requests/.*/approve"  # nor approves a promotion for people
    )
    assert [line for line in code if pattern.search(line)] == []


def test_least_privilege_permissions():
    workflow = _workflow()
    assert workflow["permissions"] == {"contents": "read"}
    writers = {
        n for n, j in workflow["jobs"].items() if "write" in str(j.get("permissions"))
    }
    assert writers == {"image"}  # packages: write, to push the image


@pytest.mark.parametrize("overlay", ["staging", "production"])
def test_deploy_script_renders_the_overlay_with_the_released_image(overlay):
    image = "ghcr.io/acme/modelgate:0123abc"
    path = os.path.dirname(kubectl()) + ":" + os.environ.get("PATH", "")
    done = subprocess.run(
        ["bash", str(KUBERNETES / "deploy.sh"), overlay, image],
        env={**os.environ, "RENDER_ONLY": "1", "PATH": path},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    images = set(re.findall(r"image: (\S+)", done.stdout))
    assert images == {image}
