"""The dependency direction of the apps, read from the source with ``ast``.

core is the platform (base model, errors, roles, the registry gateway) and
imports no app; governance imports core only; inference and the trainer use
governance; monitoring uses inference and governance. Every import counts,
function-level ones included.

MLflow is imported only by the gateway's MLflow implementation
(core/registry/mlflow_store.py and core/registry/mlflow_run.py, the training
run's logging). The tests are not held to it: some act as an outside MLflow
user (moving an alias behind Modelgate's back, signing a webhook as MLflow
does) and need MLflow's own client for that.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ("core", "governance", "inference", "monitoring", "trainer")

# app → the apps it may import (besides itself)
ALLOWED = {
    "core": set(),
    "governance": {"core"},
    "inference": {"core", "governance"},
    "trainer": {"core", "governance"},
    "monitoring": {"core", "governance", "inference"},
}

MLFLOW_IMPORTERS = {
    "core/registry/mlflow_store.py",
    "core/registry/mlflow_run.py",
}
# every tree of the service's own code (tests excluded, see above)
SOURCE_TREES = (*APPS, "config", "bench")


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) of every import statement in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.lineno, node.module or ""
        elif isinstance(node, ast.ImportFrom):
            # relative: inside the file's own top-level package (a top-level
            # package cannot reach a sibling with dots)
            yield node.lineno, path.relative_to(ROOT).parts[0]


def _files(tree: str) -> list[Path]:
    return sorted((ROOT / tree).rglob("*.py"))


def _app_imports(app: str) -> dict[str, list[str]]:
    """Other app → where ``app`` imports it (``path:line``)."""
    found: dict[str, list[str]] = {}
    for path in _files(app):
        for line, module in _imports(path):
            top = module.split(".")[0]
            if top in APPS and top != app:
                found.setdefault(top, []).append(f"{path.relative_to(ROOT)}:{line}")
    return found


@pytest.mark.parametrize("app", APPS)
def test_an_app_imports_only_the_apps_below_it(app):
    found = _app_imports(app)

    forbidden = {
        other: where for other, where in found.items() if other not in ALLOWED[app]
    }

    assert not forbidden, f"{app} must not import {sorted(forbidden)}: {forbidden}"


def test_core_imports_no_app():
    assert _app_imports("core") == {}


def test_governance_imports_no_sibling_app():
    assert set(_app_imports("governance")) <= {"core"}


def test_only_the_registry_gateway_imports_mlflow():
    importers = {
        str(path.relative_to(ROOT))
        for tree in SOURCE_TREES
        for path in _files(tree)
        if any(module.split(".")[0] == "mlflow" for _, module in _imports(path))
    }

    assert importers == MLFLOW_IMPORTERS


def test_the_check_sees_function_level_imports(tmp_path):
    # the rule would be hollow if an import inside a function went unseen
    source = tmp_path / "late.py"
    source.write_text("def f():\n    from governance import selectors\n")

    assert list(_imports(source)) == [(2, "governance")]


def test_the_apps_reach_the_registry_through_its_functions():
    """``from core import registry``: no code outside the gateway picks its
    implementation (core.registry.mlflow_store and the others)."""
    reaching_in = [
        f"{path.relative_to(ROOT)}:{line}"
        for tree in SOURCE_TREES
        for path in _files(tree)
        if path.parent != ROOT / "core" / "registry"
        for line, module in _imports(path)
        if module.startswith("core.registry.")
    ]

    assert not reaching_in
