"""Monitors: their beat schedules, the version they watch and its reference."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from django.conf import settings
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from core import registry
from core.exceptions import NotFoundError
from governance import selectors as governance_selectors
from monitoring.calculations.methods import CAT, NUM, TEXT
from monitoring.models import Monitor

logger = logging.getLogger(__name__)

TICK_TASK = "monitoring.tasks.monitor_tick"
#: columns of the reference sample that are not model inputs
REFERENCE_EXTRA = {"target", "prediction", "outlier_score"}
NUMERIC_TYPES = {"double", "float", "long", "integer"}


def _task_name(monitor: Monitor) -> str:
    return f"monitoring: monitor {monitor.pk} ({monitor.name})"


@transaction.atomic
def monitor_schedule_sync(*, monitor: Monitor) -> PeriodicTask:
    """Create or update the monitor's django-celery-beat entry from its fields."""
    minute, hour, dom, month, dow = monitor.schedule.split()
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_month=dom,
        month_of_year=month,
        day_of_week=dow,
        timezone="UTC",
    )
    fields = {
        "name": _task_name(monitor),
        "task": TICK_TASK,
        "crontab": crontab,
        "interval": None,
        "kwargs": json.dumps({"monitor_id": monitor.pk}),
        "enabled": monitor.enabled,
        "description": f"Report of the last {monitor.window_minutes}-minute window "
        f"of {monitor.model_name} (kept in sync with the monitor).",
    }
    task = monitor.periodic_task
    if task is None:
        task = PeriodicTask.objects.filter(name=fields["name"]).first()
    if task is None:
        task = PeriodicTask.objects.create(**fields)
    else:
        for key, value in fields.items():
            setattr(task, key, value)
        task.save()
    if monitor.periodic_task_id != task.pk:
        Monitor.objects.filter(pk=monitor.pk).update(periodic_task=task)
        monitor.periodic_task = task
    return task


@transaction.atomic
def monitor_delete(*, monitor: Monitor) -> None:
    """Delete a monitor and its beat entry."""
    task_id = monitor.periodic_task_id
    monitor.delete()
    if task_id:
        PeriodicTask.objects.filter(pk=task_id).delete()


def monitor_schedules_sync_all() -> int:
    """Bring every monitor's beat entry in line (and drop orphaned entries)."""
    monitors = list(Monitor.objects.all())
    for monitor in monitors:
        monitor_schedule_sync(monitor=monitor)
    kept = [m.periodic_task_id for m in monitors]
    PeriodicTask.objects.filter(task=TICK_TASK).exclude(pk__in=kept).delete()
    return len(monitors)


# ------------------------------------------------------------- the version
@dataclass(frozen=True)
class Target:
    """The version a monitor watches and what its reference needs."""

    model_name: str
    version: int
    run_id: str
    how: str
    task: str
    classes: list[str]
    positive_class: str | None
    metrics: dict
    feature_kinds: dict[str, str]
    reference_artifact: str
    outlier_artifact: str


def _feature_kinds(mv, reference: pd.DataFrame | None) -> dict[str, str]:
    texts = {c for c in mv.tags.get("modelgate.text_columns", "").split(",") if c}
    inputs = (mv.signature or {}).get("inputs") or []
    kinds: dict[str, str] = {}
    for item in inputs:
        name = item.get("name")
        if not name:
            continue
        if name in texts:
            kinds[name] = TEXT
        elif item.get("type") in NUMERIC_TYPES:
            kinds[name] = NUM
        else:
            kinds[name] = CAT
    if kinds or reference is None:
        return kinds
    for column in reference.columns:
        if column in REFERENCE_EXTRA or column.startswith("proba_"):
            continue
        if column in texts:
            kinds[column] = TEXT
        elif pd.api.types.is_numeric_dtype(reference[column]):
            kinds[column] = NUM
        else:
            kinds[column] = CAT
    return kinds


def monitor_target(*, monitor: Monitor, version: int | None = None) -> Target:
    """Resolve the watched version: ``version`` if given, else the pinned
    version, else the alias, else the newest registered version."""
    how = "requested"
    if version is None and monitor.model_version:
        version, how = monitor.model_version, "pinned"
    if version is None:
        mv = governance_selectors.model_version_for_alias(
            name=monitor.model_name, alias=monitor.alias
        )
        if mv is not None:
            version, how = mv.version, f"alias {monitor.alias}"
    if version is None:
        model = governance_selectors.registered_model_get(name=monitor.model_name)
        newest = model.versions.all()[0] if model and model.versions.all() else None
        if newest is None:
            raise NotFoundError(f"model {monitor.model_name} has no version")
        version, how = newest.version, f"newest version (alias {monitor.alias} unset)"
    mv = governance_selectors.model_version_get(
        name=monitor.model_name, version=version
    )
    if mv is None:
        raise NotFoundError(f"{monitor.model_name} v{version} is not registered")
    return Target(
        model_name=monitor.model_name,
        version=version,
        run_id=mv.run_id,
        how=how,
        task=mv.tags.get("modelgate.task", "classification"),
        classes=mv.classes,
        positive_class=mv.tags.get("modelgate.positive_class") or None,
        metrics={k: v for k, v in (mv.metrics or {}).items() if isinstance(v, float)},
        feature_kinds=_feature_kinds(mv, None),
        reference_artifact=mv.tags.get(
            "modelgate.reference_artifact", "reference/reference.parquet"
        ),
        outlier_artifact=mv.tags.get("modelgate.outlier_artifact", "outlier"),
    )


def _cache_dir(target: Target) -> Path:
    root = Path(settings.MONITORING["REFERENCE_CACHE_DIR"])
    return root / target.model_name / str(target.version)


def _download(target: Target, artifact: str, name: str) -> Path:
    """Download one run artifact into the cache once (atomic rename)."""
    folder = _cache_dir(target)
    path = folder / name
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        local = registry.run_artifact_download(target.run_id, artifact, Path(tmp))
        shutil.move(str(local), str(path))
    logger.info("cached %s of %s v%s", artifact, target.model_name, target.version)
    return path


def reference_sample_load(*, target: Target) -> pd.DataFrame:
    """The version's reference sample (training inputs, target, out-of-fold
    predictions), downloaded from MLflow once and cached locally."""
    return pd.read_parquet(
        _download(target, target.reference_artifact, "reference.parquet")
    )


def reference_vocabulary(*, target: Target) -> set[str] | None:
    """The training vocabulary of the version's outlier detector (for the
    out-of-vocabulary descriptor), or None if it has none."""
    try:
        path = _download(
            target, f"{target.outlier_artifact}/detector.json", "detector.json"
        )
    except registry.RegistryError:
        return None
    vocab = json.loads(path.read_text()).get("vocabulary") or []
    return set(vocab) or None


def feature_kinds(*, target: Target, reference: pd.DataFrame) -> dict[str, str]:
    if target.feature_kinds:
        return dict(target.feature_kinds)
    mv = governance_selectors.model_version_get(
        name=target.model_name, version=target.version
    )
    return _feature_kinds(mv, reference)
