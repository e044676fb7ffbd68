"""Keeping the registry mirror in step with MLflow."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from core import registry
from governance.choices import ModelTask, TestStatus
from governance.models import AuditEvent, ModelAlias, ModelVersion, RegisteredModel

logger = logging.getLogger(__name__)

TAG_TESTS = "modelgate.tests"
TAG_TASK = "modelgate.task"


def _test_status(tags: dict[str, str]) -> str:
    value = tags.get(TAG_TESTS, "").lower()
    return value if value in TestStatus.values else TestStatus.UNKNOWN


def model_version_register(
    *,
    name: str,
    model_uri: str,
    run_id: str,
    tags: dict[str, str] | None = None,
    description: str = "",
) -> ModelVersion:
    """Register a new version in MLflow and record it in the mirror."""
    registered = registry.version_register(
        name=name,
        model_uri=model_uri,
        run_id=run_id,
        tags=tags,
        description=description,
    )
    return model_version_mirror(name=name, version=registered.version)


def model_version_mirror(
    *, name: str, version: int, rv: registry.RegistryVersion | None = None
) -> ModelVersion:
    """Copy one MLflow version (tags, run metrics and params, signature, card) into
    the mirror, creating the registered model row if needed."""
    rv = rv or registry.version_get(name, version)
    metrics, params = {}, {}
    card = ""
    if rv.run_id:
        try:
            metrics, params, _tags = registry.run_data(rv.run_id)
        except registry.RegistryNotFound:
            logger.warning("run %s of %s v%s is gone", rv.run_id, name, version)
        card = registry.run_artifact_text(rv.run_id, "model_card.md") or ""
    try:
        signature = registry.version_signature(name, version)
    except registry.RegistryError:
        logger.warning("no readable signature for %s v%s", name, version)
        signature = {}

    with transaction.atomic():
        model, _ = RegisteredModel.objects.get_or_create(name=name)
        task = rv.tags.get(TAG_TASK, "")
        if task in ModelTask.values and model.task != task:
            model.task = task
            model.save(update_fields=["task", "updated_at"])
        obj, _ = ModelVersion.objects.update_or_create(
            registered_model=model,
            version=rv.version,
            defaults={
                "run_id": rv.run_id,
                "source": rv.source,
                "mlflow_status": rv.status,
                "test_status": _test_status(rv.tags),
                "metrics": metrics,
                "params": params,
                "tags": rv.tags,
                "signature": signature,
                "model_card": card,
                "registered_by": rv.user_id,
                "registered_at": rv.created_at,
            },
        )
    return obj


@dataclass
class SyncReport:
    """What one synchronisation changed in the mirror, and MLflow's aliases."""

    name: str
    new_versions: list[int] = field(default_factory=list)
    updated_versions: list[int] = field(default_factory=list)
    alias_changes: dict[str, list[int | None]] = field(default_factory=dict)
    remote_aliases: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.new_versions or self.updated_versions or self.alias_changes)

    def as_dict(self) -> dict:
        return {
            "new_versions": self.new_versions,
            "updated_versions": self.updated_versions,
            "alias_changes": self.alias_changes,
        }


def alias_mark(*, name: str) -> int:
    """Sequence of the last alias event the ledger holds for model ``name``:
    it moves whenever an apply (or a revert) records an alias."""
    from governance.selectors import ALIAS_EVENT_KINDS

    last = (
        AuditEvent.objects.filter(model_name=name, kind__in=ALIAS_EVENT_KINDS)
        .order_by("-sequence")
        .values_list("sequence", flat=True)
        .first()
    )
    return last or 0


def model_lock(*, name: str) -> RegisteredModel:
    """Lock the model's mirror row until the transaction ends. Applies take it
    before they record an alias move, the reconciler before it compares MLflow
    with the ledger: the two never see each other half-way."""
    model, _ = RegisteredModel.objects.get_or_create(name=name)
    return RegisteredModel.objects.select_for_update().get(pk=model.pk)


def registered_model_sync_report(*, name: str) -> tuple[RegisteredModel, SyncReport]:
    """Bring the mirror of one registered model in line with MLflow and say what
    changed: new versions are copied in full, known ones get their tags and
    status refreshed, aliases are replaced by what MLflow says now.

    The aliases are read from MLflow without any lock (it may be slow), then
    the model row is locked; if an apply recorded an alias move meanwhile, the
    read is stale and MLflow is read again under the lock. Called inside a
    transaction, the lock (and so the consistent view) lasts until it ends.
    """
    mark = alias_mark(name=name)
    remote = registry.model_get(name)
    versions = registry.version_list(name)
    report = SyncReport(name=name, remote_aliases=dict(remote.aliases))
    known = {
        v.version: v for v in ModelVersion.objects.filter(registered_model__name=name)
    }
    for rv in versions:
        current = known.get(rv.version)
        if current is None:
            model_version_mirror(name=name, version=rv.version, rv=rv)
            report.new_versions.append(rv.version)
        elif current.tags != rv.tags or current.mlflow_status != rv.status:
            current.tags = rv.tags
            current.mlflow_status = rv.status
            current.test_status = _test_status(rv.tags)
            current.save(
                update_fields=["tags", "mlflow_status", "test_status", "updated_at"]
            )
            report.updated_versions.append(rv.version)

    with transaction.atomic():
        model = model_lock(name=name)
        if alias_mark(name=name) != mark:
            # an apply moved an alias after our read: read MLflow again
            remote = registry.model_get(name)
            report.remote_aliases = dict(remote.aliases)
        model.description = remote.description
        model.last_synced_at = timezone.now()
        model.save(update_fields=["description", "last_synced_at", "updated_at"])
        by_number = {v.version: v for v in model.versions.all()}
        before = dict(model.aliases.values_list("alias", "version__version"))
        model.aliases.exclude(alias__in=list(remote.aliases)).delete()
        for alias, number in remote.aliases.items():
            if number in by_number:
                ModelAlias.objects.update_or_create(
                    registered_model=model,
                    alias=alias,
                    defaults={"version": by_number[number]},
                )
        for alias in sorted(set(before) | set(remote.aliases)):
            if before.get(alias) != remote.aliases.get(alias):
                report.alias_changes[alias] = [
                    before.get(alias),
                    remote.aliases.get(alias),
                ]
    return model, report


def registered_model_sync(*, name: str) -> RegisteredModel:
    """Bring the mirror of one registered model in line with MLflow."""
    return registered_model_sync_report(name=name)[0]


def registry_sync_all() -> list[RegisteredModel]:
    """Reconcile every registered model of MLflow into the mirror."""
    return [registered_model_sync(name=m.name) for m in registry.model_list()]


def mirror_alias_set(*, model: RegisteredModel, alias: str, version: int) -> None:
    """Record in the mirror an alias Modelgate has just moved in MLflow."""
    target = ModelVersion.objects.filter(
        registered_model=model, version=version
    ).first()
    if target is None:
        return
    ModelAlias.objects.update_or_create(
        registered_model=model, alias=alias, defaults={"version": target}
    )


def mirror_alias_delete(*, model: RegisteredModel, alias: str) -> None:
    ModelAlias.objects.filter(registered_model=model, alias=alias).delete()
