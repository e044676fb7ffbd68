"""The reconciler: aliases moved outside Modelgate are detected, audited,
reported to ops and (if configured) moved back; failed applies are retried."""

from django.core import mail

from core import registry
from core.registry import mlflow_store
from governance.choices import AuditKind
from governance.models import AuditEvent, ModelAlias
from governance.selectors import alias_held_at, alias_timeline
from governance.services.audit import audit_verify
from governance.tasks import registry_reconcile


def test_alias_moved_outside_modelgate_is_detected_and_reported(
    people, model_factory, in_production, commits, mlflow_aliases
):
    name = model_factory(versions=2)
    in_production(name, 1)
    mail.outbox.clear()

    # someone with edit rights moves production straight in MLflow
    registry.alias_set(name, "production", 2)
    with commits():
        registry_reconcile()

    event = AuditEvent.objects.get(kind=AuditKind.ALIAS_OUT_OF_BAND, model_name=name)
    assert (event.model_name, event.alias, event.version) == (name, "production", 2)
    assert event.payload["expected"] == 1
    assert event.actor == "mlflow"
    assert any("outside Modelgate" in m.subject for m in mail.outbox)
    assert "erin@example.com" in mail.outbox[-1].to
    # not reverted by default; the mirror shows the truth; alerted once only
    assert mlflow_aliases(name)["production"] == 2
    assert (
        ModelAlias.objects.get(
            registered_model__name=name, alias="production"
        ).version.version
        == 2
    )
    with commits():
        registry_reconcile()
    assert (
        AuditEvent.objects.filter(
            kind=AuditKind.ALIAS_OUT_OF_BAND, model_name=name
        ).count()
        == 1
    )
    # the timeline says who held production, and that v2 came from outside
    last = alias_timeline(model_name=name, alias="production")[-1]
    assert (last["version"], last["by_modelgate"]) == (2, False)
    held = alias_held_at(model_name=name, alias="production", at=event.created_at)
    assert held["version"] == 2 and held["approved_by"] == []
    assert audit_verify().ok


def test_out_of_band_change_is_reverted_when_configured(
    settings, people, model_factory, in_production, commits, mlflow_aliases
):
    settings.GOVERNANCE = {**settings.GOVERNANCE, "REVERT_OUT_OF_BAND": True}
    name = model_factory(versions=2)
    in_production(name, 1)

    registry.alias_set(name, "production", 2)
    registry.alias_delete(name, "staging")
    with commits():
        registry_reconcile()

    assert mlflow_aliases(name) == {"production": 1, "staging": 1}
    kinds = list(
        AuditEvent.objects.filter(
            model_name=name, kind__in=["alias_out_of_band", "alias_moved"]
        )
        .order_by("-sequence")
        .values_list("kind", "alias", "version")[:4]
    )
    assert ("alias_out_of_band", "production", 2) in kinds
    assert ("alias_out_of_band", "staging", None) in kinds
    assert ("alias_moved", "production", 1) in kinds
    assert ("alias_moved", "staging", 1) in kinds
    # nothing left to revert on the next pass
    with commits():
        registry_reconcile()
    assert (
        AuditEvent.objects.filter(
            kind=AuditKind.ALIAS_OUT_OF_BAND, model_name=name
        ).count()
        == 2
    )


def test_governed_alias_set_before_any_promotion_is_out_of_band(model_factory, commits):
    name = model_factory(versions=1)
    registry.alias_set(name, "production", 1)
    with commits():
        registry_reconcile()
    event = AuditEvent.objects.get(kind=AuditKind.ALIAS_OUT_OF_BAND, model_name=name)
    assert event.payload["expected"] is None


def test_other_aliases_are_not_governed(model_factory, commits):
    name = model_factory(versions=1)
    registry.alias_set(name, "challenger", 1)
    with commits():
        registry_reconcile()
    assert not AuditEvent.objects.filter(
        kind=AuditKind.ALIAS_OUT_OF_BAND, model_name=name
    ).exists()
    assert ModelAlias.objects.filter(
        registered_model__name=name, alias="challenger"
    ).exists()


def test_reconciliation_that_changes_the_mirror_is_audited(model_factory, commits):
    name = model_factory(versions=1)
    source = registry.version_get(name, 1)
    mlflow_store.client().create_model_version(name, source.source, source.run_id)
    with commits():
        registry_reconcile()
    event = AuditEvent.objects.filter(kind=AuditKind.RECONCILED).latest("sequence")
    assert event.payload["changes"][name]["new_versions"] == [2]
