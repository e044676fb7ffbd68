"""dvc.yaml stays honest: every stage lists the code and the params it uses,
so DVC reruns exactly what a change touches. Checked with DVC itself on a copy
of the project (its own SQLite database and MLflow store): a second
``dvc repro`` skips every stage; a changed test threshold reruns evaluate and
register only; a changed hyper-parameter reruns everything after prepare."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
STAGES = ["prepare", "train", "evaluate", "export", "register"]
# the pipeline's own code: what `manage.py train` imports from these folders
PIPELINE_TREES = ("trainer", "core/ml")


def _dvc_deps() -> set[str]:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    return {dep for stage in stages.values() for dep in stage.get("deps", [])}


def _module_file(module: str) -> str | None:
    base = ROOT / module.replace(".", "/")
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return str(candidate.relative_to(ROOT))
    return None


def _pipeline_modules(start: str) -> set[str]:
    """Files of PIPELINE_TREES that ``start`` imports, transitively (every
    import statement counts, function-level ones included)."""
    seen, todo = set(), [start]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse((ROOT / path).read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                found = _module_file(name)
                if found and found.startswith(PIPELINE_TREES) and found not in seen:
                    todo.append(found)
    return {p for p in seen if not p.endswith("__init__.py")}


def test_every_module_the_pipeline_runs_is_a_stage_dependency():
    deps = _dvc_deps()
    modules = _pipeline_modules("trainer/management/commands/train.py")
    assert "trainer/config.py" in modules and "core/ml/outliers.py" in modules
    missing = sorted(modules - deps)
    assert not missing, f"modules the pipeline runs that no stage depends on: {missing}"
    for dep in deps:
        if "${" not in dep:
            assert (ROOT / dep).exists(), f"dvc.yaml lists a missing file: {dep}"


def _ran(output: str) -> list[str]:
    return re.findall(r"Running stage '([a-z]+)'", output)


@pytest.mark.slow
def test_dvc_repro_reruns_only_what_a_change_touches(tmp_path):
    dvc = Path(sys.executable).parent / "dvc"
    assert dvc.exists(), "DVC is a dev dependency: make install-dev installs it"
    project = tmp_path / "project"
    for part in ("config", "core", "governance", "inference", "monitoring", "trainer"):
        shutil.copytree(
            ROOT / part, project / part, ignore=shutil.ignore_patterns("__pycache__")
        )
    for part in ("manage.py", "dvc.yaml", "params.yaml", "pyproject.toml"):
        shutil.copy2(ROOT / part, project / part)
    # a quicker but complete run: a slice of the data, fewer folds, a smaller
    # reference, a smaller forest (DVC hashes the file; its size changes nothing)
    data = project / "data" / "sms_spam" / "SMSSpamCollection"
    data.parent.mkdir(parents=True)
    lines = (ROOT / "data" / "sms_spam" / "SMSSpamCollection").read_bytes()
    data.write_bytes(b"".join(lines.splitlines(keepends=True)[:1500]))
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["reference"].update(cv_folds=2, sample_size=300)
    params["outliers"]["n_estimators"] = 20
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_URL", "REDIS_URL", "MLFLOW_", "DJANGO_"))
    }
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        DJANGO_SETTINGS_MODULE="config.settings.local",
        MODELGATE_DATA_DIR=str(project / "var"),
        DO_NOT_TRACK="1",
    )

    def run(*args: str) -> str:
        done = subprocess.run(
            args, cwd=project, env=env, capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout + done.stderr

    run(sys.executable, "manage.py", "migrate", "--no-input", "-v", "0")
    run(str(dvc), "init", "--no-scm", "-q")

    assert _ran(run(str(dvc), "repro")) == STAGES
    again = run(str(dvc), "repro")
    assert _ran(again) == [], again
    assert all(f"Stage '{stage}' didn't change" in again for stage in STAGES), again

    params["tests"]["thresholds"]["mcc"]["min"] = 0.91
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert _ran(run(str(dvc), "repro")) == ["evaluate", "register"]

    params["model"]["pipelines"]["tfidf_logreg"]["estimator"]["params"]["C"] = 20.0
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert _ran(run(str(dvc), "repro")) == ["train", "evaluate", "export", "register"]
