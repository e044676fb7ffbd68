"""The one module that talks to the MLflow tracking server and model registry.

Everything above it (services, tasks, inference's model cache, the trainer)
goes through these functions and receives plain dataclasses, never MLflow
objects. MLflow is imported lazily: ``import mlflow`` costs 1.5-2 s and web
workers must not pay it on their first request.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings

if TYPE_CHECKING:
    from mlflow import MlflowClient

logger = logging.getLogger(__name__)


class RegistryError(Exception):
    """MLflow could not be reached or refused the operation."""


class RegistryNotFound(RegistryError):
    """The registered model, version, alias or run does not exist."""


@dataclass(frozen=True)
class RegistryVersion:
    """A model version as MLflow reports it."""

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
    name: str
    description: str
    aliases: dict[str, int]
    tags: dict[str, str]


def configure() -> None:
    """Point MLflow at the configured tracking and registry URIs, with timeouts."""
    import mlflow

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault(
        "MLFLOW_HTTP_REQUEST_TIMEOUT", str(settings.MLFLOW_REQUEST_TIMEOUT_SECONDS)
    )
    os.environ.setdefault(
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(settings.MLFLOW_REQUEST_MAX_RETRIES)
    )
    uri = settings.MLFLOW_TRACKING_URI
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(settings.MLFLOW_REGISTRY_URI)


def client() -> MlflowClient:
    from mlflow import MlflowClient

    configure()
    return MlflowClient(
        tracking_uri=settings.MLFLOW_TRACKING_URI,
        registry_uri=settings.MLFLOW_REGISTRY_URI,
    )


def _wrap(exc: Exception, what: str) -> RegistryError:
    from mlflow.exceptions import MlflowException

    if isinstance(exc, MlflowException) and exc.error_code in (
        "RESOURCE_DOES_NOT_EXIST",
        "NOT_FOUND",
    ):
        return RegistryNotFound(f"{what}: not found in MLflow")
    return RegistryError(f"{what}: {type(exc).__name__}: {exc}")


def _to_version(mv: Any) -> RegistryVersion:
    created = (
        datetime.fromtimestamp(mv.creation_timestamp / 1000, tz=UTC)
        if mv.creation_timestamp
        else None
    )
    return RegistryVersion(
        name=mv.name,
        version=int(mv.version),
        run_id=mv.run_id or "",
        source=mv.source or "",
        status=str(mv.status or ""),
        tags=dict(mv.tags or {}),
        aliases=tuple(getattr(mv, "aliases", None) or ()),
        user_id=mv.user_id or "",
        created_at=created,
        description=mv.description or "",
    )


# ------------------------------------------------------------------ tracking
def experiment_ensure(name: str) -> str:
    """Return the id of experiment ``name``, creating it (with a local artifact
    root when the tracking store is local) if absent."""
    try:
        c = client()
        exp = c.get_experiment_by_name(name)
        if exp is not None:
            return exp.experiment_id
        uri = settings.MLFLOW_TRACKING_URI
        local = uri.startswith(("sqlite:", "file:", "/")) or "://" not in uri
        return c.create_experiment(
            name,
            artifact_location=(
                f"{settings.MLFLOW_ARTIFACT_ROOT.rstrip('/')}/{name}" if local else None
            ),
        )
    except Exception as exc:
        raise _wrap(exc, f"experiment {name!r}") from exc


def run_data(run_id: str) -> tuple[dict[str, float], dict[str, str], dict[str, str]]:
    """Metrics, params and tags of a run."""
    try:
        run = client().get_run(run_id)
    except Exception as exc:
        raise _wrap(exc, f"run {run_id}") from exc
    return dict(run.data.metrics), dict(run.data.params), dict(run.data.tags)


def run_artifact_text(run_id: str, path: str) -> str | None:
    """Text of a small run artifact (e.g. the model card), or None if absent."""
    import mlflow

    configure()
    try:
        return mlflow.artifacts.load_text(f"runs:/{run_id}/{path}")
    except Exception:  # absent artifact or a run from another tool
        return None


def run_artifact_download(run_id: str, path: str, dst: Path) -> Path:
    """Download one artifact (file or folder) of a run into ``dst``."""
    import mlflow

    configure()
    dst.mkdir(parents=True, exist_ok=True)
    try:
        local = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=path, dst_path=str(dst)
        )
    except Exception as exc:
        raise _wrap(exc, f"artifact {path!r} of run {run_id}") from exc
    return Path(local)


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
    c = client()
    try:
        try:
            c.get_registered_model(name)
        except Exception as exc:
            if not isinstance(_wrap(exc, name), RegistryNotFound):
                raise
            c.create_registered_model(name)
        # A logged model (MLflow 3, "models:/m-<id>") must be named by id too, or
        # a tracking server refuses the source.
        model_id = (
            model_uri.removeprefix("models:/")
            if model_uri.startswith("models:/m-")
            else None
        )
        mv = c.create_model_version(
            name=name,
            source=model_uri,
            run_id=run_id,
            tags=tags or {},
            description=description or None,
            model_id=model_id,
        )
    except RegistryError:
        raise
    except Exception as exc:
        raise _wrap(exc, f"register {name}") from exc
    logger.info("registered %s version %s from run %s", name, mv.version, run_id)
    return _to_version(mv)


def version_get(name: str, version: int) -> RegistryVersion:
    try:
        return _to_version(client().get_model_version(name, str(version)))
    except Exception as exc:
        raise _wrap(exc, f"{name} v{version}") from exc


def version_list(name: str) -> list[RegistryVersion]:
    try:
        found = client().search_model_versions(f"name = '{_quote(name)}'")
    except Exception as exc:
        raise _wrap(exc, f"versions of {name}") from exc
    return sorted((_to_version(mv) for mv in found), key=lambda v: v.version)


def model_get(name: str) -> RegistryModel:
    try:
        rm = client().get_registered_model(name)
    except Exception as exc:
        raise _wrap(exc, f"model {name}") from exc
    return RegistryModel(
        name=rm.name,
        description=rm.description or "",
        aliases={k: int(v) for k, v in (rm.aliases or {}).items()},
        tags=dict(rm.tags or {}),
    )


def model_list() -> list[RegistryModel]:
    try:
        found = client().search_registered_models(max_results=1000)
    except Exception as exc:
        raise _wrap(exc, "registered models") from exc
    return [
        RegistryModel(
            name=rm.name,
            description=rm.description or "",
            aliases={k: int(v) for k, v in (rm.aliases or {}).items()},
            tags=dict(rm.tags or {}),
        )
        for rm in found
    ]


def alias_resolve(name: str, alias: str) -> int | None:
    """The version number alias ``name@alias`` points to, or None if unset."""
    return model_get(name).aliases.get(alias)


def alias_set(name: str, alias: str, version: int) -> None:
    try:
        client().set_registered_model_alias(name, alias, str(version))
    except Exception as exc:
        raise _wrap(exc, f"set {name}@{alias} → v{version}") from exc
    logger.info("alias %s@%s now points to version %s", name, alias, version)


def alias_delete(name: str, alias: str) -> None:
    try:
        client().delete_registered_model_alias(name, alias)
    except Exception as exc:
        raise _wrap(exc, f"delete {name}@{alias}") from exc


def version_tag_set(name: str, version: int, key: str, value: str) -> None:
    try:
        client().set_model_version_tag(name, str(version), key, value)
    except Exception as exc:
        raise _wrap(exc, f"tag {name} v{version}") from exc


def version_stage_set(name: str, version: int, stage: str) -> None:
    """Set MLflow's deprecated stage field (only when MODELGATE_MIRROR_STAGES is on,
    for old clients that still read stages); other versions keep theirs."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            client().transition_model_version_stage(
                name, str(version), stage, archive_existing_versions=False
            )
    except Exception as exc:
        raise _wrap(exc, f"stage of {name} v{version}") from exc


def version_signature(name: str, version: int) -> dict[str, list[dict]]:
    """The version's signature, JSON-able: ``{"inputs": [...], "outputs": [...]}``."""
    import mlflow

    configure()
    try:
        info = mlflow.models.get_model_info(f"models:/{name}/{version}")
    except Exception as exc:
        raise _wrap(exc, f"model info of {name} v{version}") from exc
    if info.signature is None:
        return {}
    raw = info.signature.to_dict()
    return {
        key: json.loads(raw[key]) if raw.get(key) else []
        for key in ("inputs", "outputs")
    }


def version_download(name: str, version: int, dst: Path) -> Path:
    """Download the model files of ``name`` v``version`` into ``dst``."""
    import mlflow

    configure()
    dst.mkdir(parents=True, exist_ok=True)
    try:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}/{version}", dst_path=str(dst)
        )
    except Exception as exc:
        raise _wrap(exc, f"download {name} v{version}") from exc
    return Path(local)


WEBHOOK_EVENTS = (
    "model_version.created",
    "model_version_tag.set",
    "model_version_tag.deleted",
    "model_version_alias.created",
    "model_version_alias.deleted",
)


def webhook_ensure(*, name: str, url: str, secret: str) -> tuple[str, bool]:
    """Create (or update) the MLflow webhook ``name`` that calls ``url`` on every
    registry event Modelgate mirrors; returns (webhook id, created)."""
    try:
        c = client()
        existing = None
        page = c.list_webhooks(max_results=100)
        while True:
            existing = next((w for w in page if w.name == name), existing)
            if existing is not None or not page.token:
                break
            page = c.list_webhooks(max_results=100, page_token=page.token)
        if existing is None:
            hook = c.create_webhook(
                name=name, url=url, events=list(WEBHOOK_EVENTS), secret=secret
            )
            return hook.webhook_id, True
        c.update_webhook(
            existing.webhook_id,
            url=url,
            events=list(WEBHOOK_EVENTS),
            secret=secret,
            status="ACTIVE",
        )
        return existing.webhook_id, False
    except Exception as exc:
        raise _wrap(exc, f"webhook {name!r}") from exc


def webhook_delete(webhook_id: str) -> None:
    try:
        client().delete_webhook(webhook_id)
    except Exception as exc:
        raise _wrap(exc, f"webhook {webhook_id}") from exc


def _quote(value: str) -> str:
    return value.replace("'", "\\'")


# ------------------------------------------------------------- run logging
class TrackingRun:
    """What a training run logs to MLflow (a thin facade over the fluent API)."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id

    def log_params(self, params: dict[str, Any]) -> None:
        import mlflow

        items = list(params.items())
        for start in range(0, len(items), 100):  # MLflow caps a batch at 100 params
            mlflow.log_params(dict(items[start : start + 100]))

    def log_metrics(self, metrics: dict[str, float]) -> None:
        import mlflow

        mlflow.log_metrics(metrics)

    def log_dict(self, data: dict, path: str) -> None:
        import mlflow

        mlflow.log_dict(data, path)

    def log_text(self, text: str, path: str) -> None:
        import mlflow

        mlflow.log_text(text, path)

    def log_artifacts(self, folder: Path, path: str) -> None:
        import mlflow

        mlflow.log_artifacts(str(folder), path)

    def set_tags(self, tags: dict[str, str]) -> None:
        import mlflow

        mlflow.set_tags(tags)

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
        import mlflow
        from mlflow.models import infer_signature

        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(input_sample, output_sample),
            input_example=input_example,
            pip_requirements=pip_requirements,
            serialization_format=serialization_format,
            skops_trusted_types=["sklearn.tree._tree.Tree"],
        )
        return info.model_uri


@contextmanager
def tracking_run(*, experiment: str, run_name: str) -> Iterator[TrackingRun]:
    """Start an MLflow run in ``experiment``; the run ends FAILED on an exception."""
    import mlflow

    experiment_id = experiment_ensure(experiment)
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        yield TrackingRun(run.info.run_id)


def model_load(folder: Path) -> Any:
    """Load a downloaded MLflow model (pyfunc) from a local folder."""
    import mlflow

    return mlflow.pyfunc.load_model(str(folder))


@dataclass(frozen=True)
class LocalModel:
    """A model loaded from a local folder, split into what serving needs."""

    pyfunc: Any
    raw: Any | None  # the bare scikit-learn estimator, when the model has one
    inputs: list[dict]  # signature inputs: [{"name", "type", "required"}, ...]
    outputs: list[dict]


def model_load_local(folder: Path) -> LocalModel:
    """Load a downloaded MLflow model and expose its raw scikit-learn estimator
    (if its flavors include sklearn) and its signature as plain dicts."""
    pyfunc = model_load(folder)
    raw = None
    if "sklearn" in (pyfunc.metadata.flavors or {}):
        try:
            raw = pyfunc.get_raw_model()
        except Exception:  # a wrapper without a raw model: serve through pyfunc
            logger.info("no raw model in %s; serving through pyfunc", folder)
    signature = pyfunc.metadata.signature
    inputs: list[dict] = []
    outputs: list[dict] = []
    if signature is not None:
        raw_sig = signature.to_dict()
        inputs = json.loads(raw_sig["inputs"]) if raw_sig.get("inputs") else []
        outputs = json.loads(raw_sig["outputs"]) if raw_sig.get("outputs") else []
    return LocalModel(pyfunc=pyfunc, raw=raw, inputs=inputs, outputs=outputs)
