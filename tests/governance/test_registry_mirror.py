"""The registry mirror follows MLflow, including versions registered elsewhere."""

from core import registry
from core.registry import mlflow_store
from governance.models import ModelAlias, ModelVersion
from governance.tasks import registry_reconcile


def test_version_registered_outside_modelgate_appears_after_reconciliation(sms_model):
    # given a version registered straight through MLflow, from an existing run
    source = registry.version_get("sms-spam", sms_model.version)
    client = mlflow_store.client()
    outside = client.create_model_version("sms-spam", source.source, source.run_id)
    assert not ModelVersion.objects.filter(version=int(outside.version)).exists()

    # when the periodic reconciliation runs
    registry_reconcile()

    # then the mirror has it, with the run's metrics
    mirrored = ModelVersion.objects.get(
        registered_model__name="sms-spam", version=int(outside.version)
    )
    assert mirrored.metrics["mcc"] > 0.9
    assert mirrored.test_status == "unknown"  # no modelgate.tests tag on it


def test_aliases_are_mirrored_and_removed(sms_model):
    registry.alias_set("sms-spam", "champion-test", sms_model.version)
    registry_reconcile()
    assert ModelAlias.objects.filter(alias="champion-test").exists()
    registry.alias_delete("sms-spam", "champion-test")
    registry_reconcile()
    assert not ModelAlias.objects.filter(alias="champion-test").exists()
