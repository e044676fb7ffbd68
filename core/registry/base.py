"""The registry gateway's interface: what Modelgate asks of a model registry and
tracking server, and the plain values it gets back.

In the spirit of MLflow's ``AbstractStore``: ``RegistryStore`` names every
operation the apps use, and one implementation talks to the real thing
(``core.registry.mlflow_store``). Nothing here imports MLflow, and no value
crossing this interface is an MLflow object.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any


class RegistryError(Exception):
    """The registry could not be reached or refused the operation."""


class RegistryNotFound(RegistryError):
    """The registered model, version, alias or run does not exist."""


@dataclass(frozen=True)
class RegistryVersion:
    """A model version as the registry reports it."""

    name: str
    version: int
    run_id: str
    source: str
    status: str
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    user_id: str = ""
    created_at: datetime | None = None
    description: str = ""


@dataclass(frozen=True)
class RegistryModel:
    """A registered model with its aliases (alias → version number)."""

    name: str
    description: str
    aliases: dict[str, int]
    tags: dict[str, str]


@dataclass(frozen=True)
class LocalModel:
    """A model loaded from a local folder, split into what serving needs."""

    pyfunc: Any
    raw: Any | None  # the bare scikit-learn estimator, when the model has one
    inputs: list[dict]  # signature inputs: [{"name", "type", "required"}, ...]
    outputs: list[dict]


class TrackingRun(ABC):
    """What a training run logs (params, metrics, artifacts, the model)."""

    run_id: str

    @abstractmethod
    def log_params(self, params: dict[str, Any]) -> None: ...

    @abstractmethod
    def log_metrics(self, metrics: dict[str, float]) -> None: ...

    @abstractmethod
    def log_dict(self, data: dict, path: str) -> None: ...

    @abstractmethod
    def log_text(self, text: str, path: str) -> None: ...

    @abstractmethod
    def log_artifacts(self, folder: Path, path: str) -> None: ...

    @abstractmethod
    def set_tags(self, tags: dict[str, str]) -> None: ...

    @abstractmethod
    def log_sklearn_model(
        self,
        model: Any,
        *,
        input_sample: Any,
        output_sample: Any,
        input_example: Any,
        serialization_format: str,
        pip_requirements: list[str],
    ) -> str:
        """Log a scikit-learn model with its signature; returns the model URI."""


class RegistryStore(ABC):
    """Every operation Modelgate performs on the registry and tracking server.

    Failures raise ``RegistryError`` (``RegistryNotFound`` when the object does
    not exist), never the backend's own exceptions.
    """

    # ------------------------------------------------------------ tracking
    @abstractmethod
    def experiment_ensure(self, name: str) -> str:
        """The id of experiment ``name``, created if absent."""

    @abstractmethod
    def tracking_run(
        self, *, experiment: str, run_name: str
    ) -> AbstractContextManager[TrackingRun]:
        """A run in ``experiment``; it ends failed when the block raises."""

    @abstractmethod
    def run_data(
        self, run_id: str
    ) -> tuple[dict[str, float], dict[str, str], dict[str, str]]:
        """Metrics, params and tags of a run."""

    @abstractmethod
    def run_artifact_text(self, run_id: str, path: str) -> str | None:
        """Text of a small run artifact (e.g. the model card), or None if absent."""

    @abstractmethod
    def run_artifact_download(self, run_id: str, path: str, dst: Path) -> Path:
        """Download one artifact (file or folder) of a run into ``dst``."""

    # ------------------------------------------------------------ registry
    @abstractmethod
    def version_register(
        self,
        *,
        name: str,
        model_uri: str,
        run_id: str,
        tags: dict[str, str] | None = None,
        description: str = "",
    ) -> RegistryVersion:
        """Create registered model ``name`` if needed and register a new version."""

    @abstractmethod
    def version_get(self, name: str, version: int) -> RegistryVersion: ...

    @abstractmethod
    def version_list(self, name: str) -> list[RegistryVersion]:
        """Every version of ``name``, oldest first."""

    @abstractmethod
    def model_get(self, name: str) -> RegistryModel: ...

    @abstractmethod
    def model_list(self) -> list[RegistryModel]: ...

    def alias_resolve(self, name: str, alias: str) -> int | None:
        """The version number alias ``name@alias`` points to, or None if unset."""
        return self.model_get(name).aliases.get(alias)

    @abstractmethod
    def alias_set(self, name: str, alias: str, version: int) -> None: ...

    @abstractmethod
    def alias_delete(self, name: str, alias: str) -> None: ...

    @abstractmethod
    def version_tag_set(self, name: str, version: int, key: str, value: str) -> None:
        """Set one tag of a version."""

    @abstractmethod
    def version_stage_set(self, name: str, version: int, stage: str) -> None:
        """Set the registry's legacy stage field of one version (other versions
        keep theirs), for old clients that still read stages."""

    @abstractmethod
    def version_signature(self, name: str, version: int) -> dict[str, list[dict]]:
        """The version's signature, JSON-able: ``{"inputs": [...], "outputs": [...]}``
        (empty when the version has none)."""

    @abstractmethod
    def version_download(self, name: str, version: int, dst: Path) -> Path:
        """Download the model files of ``name`` v``version`` into ``dst``."""

    # ------------------------------------------------------------ webhooks
    @abstractmethod
    def webhook_ensure(self, *, name: str, url: str, secret: str) -> tuple[str, bool]:
        """Create (or update) the registry webhook ``name`` that calls ``url`` on
        every event Modelgate mirrors; returns (webhook id, created)."""

    @abstractmethod
    def webhook_delete(self, webhook_id: str) -> None: ...

    # ---------------------------------------------------------- model files
    @abstractmethod
    def model_load(self, folder: Path) -> Any:
        """Load a downloaded model (a callable with ``predict``) from a folder."""

    @abstractmethod
    def model_load_local(self, folder: Path) -> LocalModel:
        """Load a downloaded model with its raw estimator and signature."""

    @abstractmethod
    def libraries_preload(self) -> None:
        """Import the model-loading libraries now (a server's parent process,
        so that forked workers inherit them instead of each paying for it)."""
