"""Running the training pipeline (whole, or one DVC stage at a time)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from core import registry
from governance.services import registered_model_sync
from trainer.config import TrainConfig
from trainer.export_stage import Exported, stage_export
from trainer.stages import (
    Evaluated,
    Fitted,
    Prepared,
    Progress,
    Registered,
    stage_evaluate,
    stage_fit,
    stage_prepare,
    stage_register,
)

logger = logging.getLogger(__name__)


def model_is_registered(*, name: str) -> bool:
    """Whether ``name`` has a registered version: the mirror answers without
    touching MLflow; otherwise MLflow is asked (and its versions mirrored)."""
    from governance.selectors import registered_model_get

    mirrored = registered_model_get(name=name)
    if mirrored is not None and mirrored.versions.exists():
        return True
    try:
        versions = registry.version_list(name)
    except registry.RegistryNotFound:
        return False
    if versions:
        registered_model_sync(name=name)
    return bool(versions)


def training_run(*, config: TrainConfig, progress: Progress) -> Registered:
    """prepare → fit → evaluate → export → register, in one process.

    Everything that can be wrong with the configuration or the data fails in
    ``prepare`` (or when the pipeline is built), before anything is logged.
    """
    steps = [
        ("prepare", 1),
        ("train", 2),
        ("evaluate", 3),
        ("export", 4),
        ("register", 5),
    ]
    started = time.perf_counter()

    def step(name: str, index: int) -> None:
        progress(
            f"[{index}/{len(steps)}] {name} (+{time.perf_counter() - started:.1f}s)"
        )

    step(*steps[0])
    prepared = stage_prepare(config, progress)
    step(*steps[1])
    fitted = stage_fit(config, prepared, progress)
    step(*steps[2])
    evaluated = stage_evaluate(config, prepared, fitted, progress)
    step(*steps[3])
    exported = stage_export(config, prepared, fitted, progress)
    step(*steps[4])
    result = stage_register(config, prepared, fitted, evaluated, exported, progress)
    progress(f"done in {time.perf_counter() - started:.1f}s")
    return result


def training_stage_run(
    *, config: TrainConfig, stage: str, workdir: Path, progress: Progress
) -> Registered | None:
    """Run one stage, reading the previous stages' outputs from ``workdir``."""
    folders = {
        name: workdir / name for name in ("prepare", "train", "evaluate", "export")
    }
    if stage == "prepare":
        stage_prepare(config, progress).save(folders["prepare"])
        return None
    prepared = Prepared.load(folders["prepare"])
    if stage == "train":
        stage_fit(config, prepared, progress).save(folders["train"])
        return None
    fitted = Fitted.load(folders["train"])
    if stage == "evaluate":
        stage_evaluate(config, prepared, fitted, progress).save(folders["evaluate"])
        return None
    if stage == "export":
        stage_export(config, prepared, fitted, progress).save(folders["export"])
        return None
    evaluated = Evaluated.load(folders["evaluate"])
    exported = Exported.load(folders["export"])
    return stage_register(config, prepared, fitted, evaluated, exported, progress)
