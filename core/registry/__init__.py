"""The registry gateway: the one way Modelgate talks to the model registry and
the tracking server.

Every app (governance's mirror and apply, inference's model cache, monitoring,
the trainer) calls the functions below and receives the plain values of
``core.registry.base``, never MLflow objects; failures are ``RegistryError``
(``RegistryNotFound`` when the object does not exist). The functions delegate
to a ``RegistryStore``: the MLflow implementation (``core.registry.mlflow_store``)
is the only code that imports MLflow. The store is built from the settings at
each call, so a changed MLFLOW_TRACKING_URI takes effect at once.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from core.registry.base import (
    LocalModel,
    RegistryError,
    RegistryModel,
    RegistryNotFound,
    RegistryStore,
    RegistryVersion,
    TrackingRun,
)

__all__ = [
    "LocalModel",
    "RegistryError",
    "RegistryModel",
    "RegistryNotFound",
    "RegistryStore",
    "RegistryVersion",
    "TrackingRun",
    "alias_delete",
    "alias_resolve",
    "alias_set",
    "experiment_ensure",
    "libraries_preload",
    "model_get",
    "model_list",
    "model_load",
    "model_load_local",
    "run_artifact_download",
    "run_artifact_text",
    "run_data",
    "tracking_run",
    "version_download",
    "version_get",
    "version_list",
    "version_register",
    "version_signature",
    "version_stage_set",
    "version_tag_set",
    "webhook_delete",
    "webhook_ensure",
]


def _store() -> RegistryStore:
    from core.registry.mlflow_store import MlflowStore

    return MlflowStore.from_settings()


# ------------------------------------------------------------------ tracking
def experiment_ensure(name: str) -> str:
    """The id of experiment ``name``, created if absent."""
    return _store().experiment_ensure(name)


def tracking_run(
    *, experiment: str, run_name: str
) -> AbstractContextManager[TrackingRun]:
    """Start a run in ``experiment``; the run ends failed on an exception."""
    return _store().tracking_run(experiment=experiment, run_name=run_name)


def run_data(run_id: str) -> tuple[dict[str, float], dict[str, str], dict[str, str]]:
    """Metrics, params and tags of a run."""
    return _store().run_data(run_id)


def run_artifact_text(run_id: str, path: str) -> str | None:
    """Text of a small run artifact (e.g. the model card), or None if absent."""
    return _store().run_artifact_text(run_id, path)


def run_artifact_download(run_id: str, path: str, dst: Path) -> Path:
    """Download one artifact (file or folder) of a run into ``dst``."""
    return _store().run_artifact_download(run_id, path, dst)


# ------------------------------------------------------------------ registry
def version_register(
    *,
    name: str,
    model_uri: str,
    run_id: str,
    tags: dict[str, str] | None = None,
    description: str = "",
) -> RegistryVersion:
    """Create registered model ``name`` if needed and register a new version."""
    return _store().version_register(
        name=name,
        model_uri=model_uri,
        run_id=run_id,
        tags=tags,
        description=description,
    )


def version_get(name: str, version: int) -> RegistryVersion:
    return _store().version_get(name, version)


def version_list(name: str) -> list[RegistryVersion]:
    """Every version of ``name``, oldest first."""
    return _store().version_list(name)


def model_get(name: str) -> RegistryModel:
    return _store().model_get(name)


def model_list() -> list[RegistryModel]:
    return _store().model_list()


def alias_resolve(name: str, alias: str) -> int | None:
    """The version number alias ``name@alias`` points to, or None if unset."""
    return _store().alias_resolve(name, alias)


def alias_set(name: str, alias: str, version: int) -> None:
    _store().alias_set(name, alias, version)


def alias_delete(name: str, alias: str) -> None:
    _store().alias_delete(name, alias)


def version_tag_set(name: str, version: int, key: str, value: str) -> None:
    _store().version_tag_set(name, version, key, value)


def version_stage_set(name: str, version: int, stage: str) -> None:
    """Set the registry's legacy stage field (only when MODELGATE_MIRROR_STAGES
    is on, for old clients that still read stages); other versions keep theirs."""
    _store().version_stage_set(name, version, stage)


def version_signature(name: str, version: int) -> dict[str, list[dict]]:
    """The version's signature, JSON-able: ``{"inputs": [...], "outputs": [...]}``."""
    return _store().version_signature(name, version)


def version_download(name: str, version: int, dst: Path) -> Path:
    """Download the model files of ``name`` v``version`` into ``dst``."""
    return _store().version_download(name, version, dst)


# ------------------------------------------------------------------ webhooks
def webhook_ensure(*, name: str, url: str, secret: str) -> tuple[str, bool]:
    """Create (or update) the registry webhook ``name`` that calls ``url`` on
    every event Modelgate mirrors; returns (webhook id, created)."""
    return _store().webhook_ensure(name=name, url=url, secret=secret)


def webhook_delete(webhook_id: str) -> None:
    _store().webhook_delete(webhook_id)


# --------------------------------------------------------------- model files
def model_load(folder: Path) -> Any:
    """Load a downloaded model (pyfunc) from a local folder."""
    return _store().model_load(folder)


def model_load_local(folder: Path) -> LocalModel:
    """Load a downloaded model and expose its raw scikit-learn estimator (if it
    has one) and its signature as plain dicts."""
    return _store().model_load_local(folder)


def libraries_preload() -> None:
    """Import the model-loading libraries now (a server's parent process)."""
    _store().libraries_preload()
