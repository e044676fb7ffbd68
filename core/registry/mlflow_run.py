"""A training run logged to MLflow: the fluent API behind the gateway's
``TrackingRun`` (part of the MLflow implementation, with ``mlflow_store``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.registry.base import TrackingRun


class MlflowTrackingRun(TrackingRun):
    """A training run, logged through MLflow's fluent API (the active run)."""

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
