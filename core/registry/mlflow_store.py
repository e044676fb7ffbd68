"""The MLflow implementation of the registry gateway. With ``mlflow_run`` (the
training run's logging), the only code that imports MLflow.

MLflow is imported lazily, inside the methods: ``import mlflow`` costs 1.5-2 s
and web workers must not pay it on their first request.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings

from core.registry.base import (
    LocalModel,
    RegistryError,
    RegistryModel,
    RegistryNotFound,
    RegistryStore,
    RegistryVersion,
)
from core.registry.mlflow_run import MlflowTrackingRun

if TYPE_CHECKING:
    from mlflow import MlflowClient

logger = logging.getLogger(__name__)

WEBHOOK_EVENTS = (
    "model_version.created",
    "model_version_tag.set",
    "model_version_tag.deleted",
    "model_version_alias.created",
    "model_version_alias.deleted",
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


def _to_model(rm: Any) -> RegistryModel:
    return RegistryModel(
        name=rm.name,
        description=rm.description or "",
        aliases={k: int(v) for k, v in (rm.aliases or {}).items()},
        tags=dict(rm.tags or {}),
    )


def _signature_dict(signature: Any) -> dict[str, list[dict]]:
    raw = signature.to_dict()
    return {
        key: json.loads(raw[key]) if raw.get(key) else []
        for key in ("inputs", "outputs")
    }


def _quote(value: str) -> str:
    return value.replace("'", "\\'")


class MlflowStore(RegistryStore):
    """The registry and tracking server at the configured MLflow URIs."""

    def __init__(self, *, tracking_uri: str, registry_uri: str) -> None:
        self.tracking_uri = tracking_uri
        self.registry_uri = registry_uri

    @classmethod
    def from_settings(cls) -> MlflowStore:
        """The store of MLFLOW_TRACKING_URI / MLFLOW_REGISTRY_URI, as set now."""
        return cls(
            tracking_uri=settings.MLFLOW_TRACKING_URI,
            registry_uri=settings.MLFLOW_REGISTRY_URI,
        )

    def configure(self) -> None:
        """Point MLflow's fluent API at this store's URIs, with timeouts."""
        import mlflow

        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        os.environ.setdefault(
            "MLFLOW_HTTP_REQUEST_TIMEOUT", str(settings.MLFLOW_REQUEST_TIMEOUT_SECONDS)
        )
        os.environ.setdefault(
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(settings.MLFLOW_REQUEST_MAX_RETRIES)
        )
        if self.tracking_uri.startswith("sqlite:///"):
            path = Path(self.tracking_uri.removeprefix("sqlite:///"))
            path.parent.mkdir(parents=True, exist_ok=True)
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.registry_uri)

    def client(self) -> MlflowClient:
        """MLflow's own client on this store."""
        from mlflow import MlflowClient

        self.configure()
        return MlflowClient(
            tracking_uri=self.tracking_uri, registry_uri=self.registry_uri
        )

    # ------------------------------------------------------------ tracking
    def experiment_ensure(self, name: str) -> str:
        try:
            c = self.client()
            exp = c.get_experiment_by_name(name)
            if exp is not None:
                return exp.experiment_id
            uri = self.tracking_uri
            local = uri.startswith(("sqlite:", "file:", "/")) or "://" not in uri
            return c.create_experiment(
                name,
                artifact_location=(
                    f"{settings.MLFLOW_ARTIFACT_ROOT.rstrip('/')}/{name}"
                    if local
                    else None
                ),
            )
        except Exception as exc:
            raise _wrap(exc, f"experiment {name!r}") from exc

    @contextmanager
    def tracking_run(
        self, *, experiment: str, run_name: str
    ) -> Iterator[MlflowTrackingRun]:
        import mlflow

        experiment_id = self.experiment_ensure(experiment)
        with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
            yield MlflowTrackingRun(run.info.run_id)

    def run_data(
        self, run_id: str
    ) -> tuple[dict[str, float], dict[str, str], dict[str, str]]:
        try:
            run = self.client().get_run(run_id)
        except Exception as exc:
            raise _wrap(exc, f"run {run_id}") from exc
        return dict(run.data.metrics), dict(run.data.params), dict(run.data.tags)

    def run_artifact_text(self, run_id: str, path: str) -> str | None:
        import mlflow

        self.configure()
        try:
            return mlflow.artifacts.load_text(f"runs:/{run_id}/{path}")
        except Exception:  # absent artifact or a run from another tool
            return None

    def run_artifact_download(self, run_id: str, path: str, dst: Path) -> Path:
        import mlflow

        self.configure()
        dst.mkdir(parents=True, exist_ok=True)
        try:
            local = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=path, dst_path=str(dst)
            )
        except Exception as exc:
            raise _wrap(exc, f"artifact {path!r} of run {run_id}") from exc
        return Path(local)

    # ------------------------------------------------------------ registry
    def version_register(
        self,
        *,
        name: str,
        model_uri: str,
        run_id: str,
        tags: dict[str, str] | None = None,
        description: str = "",
    ) -> RegistryVersion:
        c = self.client()
        try:
            try:
                c.get_registered_model(name)
            except Exception as exc:
                if not isinstance(_wrap(exc, name), RegistryNotFound):
                    raise
                c.create_registered_model(name)
            # A logged model (MLflow 3, "models:/m-<id>") must be named by id too,
            # or a tracking server refuses the source.
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

    def version_get(self, name: str, version: int) -> RegistryVersion:
        try:
            return _to_version(self.client().get_model_version(name, str(version)))
        except Exception as exc:
            raise _wrap(exc, f"{name} v{version}") from exc

    def version_list(self, name: str) -> list[RegistryVersion]:
        try:
            found = self.client().search_model_versions(f"name = '{_quote(name)}'")
        except Exception as exc:
            raise _wrap(exc, f"versions of {name}") from exc
        return sorted((_to_version(mv) for mv in found), key=lambda v: v.version)

    def model_get(self, name: str) -> RegistryModel:
        try:
            return _to_model(self.client().get_registered_model(name))
        except Exception as exc:
            raise _wrap(exc, f"model {name}") from exc

    def model_list(self) -> list[RegistryModel]:
        try:
            found = self.client().search_registered_models(max_results=1000)
        except Exception as exc:
            raise _wrap(exc, "registered models") from exc
        return [_to_model(rm) for rm in found]

    def alias_set(self, name: str, alias: str, version: int) -> None:
        try:
            self.client().set_registered_model_alias(name, alias, str(version))
        except Exception as exc:
            raise _wrap(exc, f"set {name}@{alias} → v{version}") from exc
        logger.info("alias %s@%s now points to version %s", name, alias, version)

    def alias_delete(self, name: str, alias: str) -> None:
        try:
            self.client().delete_registered_model_alias(name, alias)
        except Exception as exc:
            raise _wrap(exc, f"delete {name}@{alias}") from exc

    def version_tag_set(self, name: str, version: int, key: str, value: str) -> None:
        try:
            self.client().set_model_version_tag(name, str(version), key, value)
        except Exception as exc:
            raise _wrap(exc, f"tag {name} v{version}") from exc

    def version_stage_set(self, name: str, version: int, stage: str) -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                self.client().transition_model_version_stage(
                    name, str(version), stage, archive_existing_versions=False
                )
        except Exception as exc:
            raise _wrap(exc, f"stage of {name} v{version}") from exc

    def version_signature(self, name: str, version: int) -> dict[str, list[dict]]:
        import mlflow

        self.configure()
        try:
            info = mlflow.models.get_model_info(f"models:/{name}/{version}")
        except Exception as exc:
            raise _wrap(exc, f"model info of {name} v{version}") from exc
        if info.signature is None:
            return {}
        return _signature_dict(info.signature)

    def version_download(self, name: str, version: int, dst: Path) -> Path:
        import mlflow

        self.configure()
        dst.mkdir(parents=True, exist_ok=True)
        try:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{name}/{version}", dst_path=str(dst)
            )
        except Exception as exc:
            raise _wrap(exc, f"download {name} v{version}") from exc
        return Path(local)

    # ------------------------------------------------------------ webhooks
    def webhook_ensure(self, *, name: str, url: str, secret: str) -> tuple[str, bool]:
        try:
            c = self.client()
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

    def webhook_delete(self, webhook_id: str) -> None:
        try:
            self.client().delete_webhook(webhook_id)
        except Exception as exc:
            raise _wrap(exc, f"webhook {webhook_id}") from exc

    # ---------------------------------------------------------- model files
    def model_load(self, folder: Path) -> Any:
        import mlflow

        return mlflow.pyfunc.load_model(str(folder))

    def model_load_local(self, folder: Path) -> LocalModel:
        pyfunc = self.model_load(folder)
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
            parsed = _signature_dict(signature)
            inputs, outputs = parsed["inputs"], parsed["outputs"]
        return LocalModel(pyfunc=pyfunc, raw=raw, inputs=inputs, outputs=outputs)

    def libraries_preload(self) -> None:
        import mlflow.pyfunc  # noqa: F401


def client() -> MlflowClient:
    """MLflow's own client on the configured store, for code that must act as
    an outside MLflow user would (tests that move an alias behind Modelgate's
    back); the apps use ``core.registry``'s functions instead."""
    return MlflowStore.from_settings().client()
