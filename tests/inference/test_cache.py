"""The model cache: alias swaps, the local copy when MLflow is unreachable,
the verified fast path."""

import numpy as np
import pytest

from governance import registry
from inference.cache import ModelUnavailable, model_cache, reset_model_cache

ROWS = [{"message": "WINNER!! claim your prize now"}, {"message": "see you at 7"}]


def test_fast_path_is_used_and_agrees_with_the_pipeline(served_sms):
    served = model_cache().get(name="sms-spam")
    assert served.raw and served.fast_proba is not None
    frame = served.frame(ROWS)
    assert np.allclose(served.fast_proba(frame), served.predictor.predict_proba(frame))


def test_alias_move_is_picked_up_by_refresh(served_sms, trained_models):
    v1 = registry.version_get("sms-spam", served_sms.version)
    v2 = int(
        registry.client()
        .create_model_version("sms-spam", v1.source, v1.run_id, tags=v1.tags)
        .version
    )
    held = model_cache().get(name="sms-spam")
    registry.alias_set("sms-spam", "production", v2)
    try:
        swaps = model_cache().refresh_aliases()
        assert swaps == [("sms-spam", "production", v1.version, v2)]
        assert model_cache().get(name="sms-spam").version == v2
        assert held.version == v1.version  # a request in flight keeps its model
        assert held.predict(ROWS).labels == ["spam", "ham"]
    finally:
        registry.alias_set("sms-spam", "production", v1.version)


def test_serves_from_local_copy_when_mlflow_is_unreachable(served_sms, settings):
    model_cache().get(name="sms-spam")  # seen once: copied locally
    reset_model_cache()  # as after a restart
    dead = "http://127.0.0.1:8119"
    settings.MLFLOW_TRACKING_URI = settings.MLFLOW_REGISTRY_URI = dead
    try:
        served = model_cache().get(name="sms-spam")
        assert served.version == served_sms.version
        assert served.predict(ROWS).labels == ["spam", "ham"]
        with pytest.raises(ModelUnavailable):
            model_cache().get(name="sms-spam", alias="never-served")
    finally:
        reset_model_cache()


def test_unknown_names_are_remembered_briefly(served_sms, monkeypatch):
    from inference import cache

    calls = []
    real = registry.alias_resolve

    def counting(name, alias):
        calls.append((name, alias))
        return real(name, alias)

    monkeypatch.setattr(registry, "alias_resolve", counting)
    for _ in range(5):
        with pytest.raises(cache.ModelNotFound):
            model_cache().get(name="no-such-model")
    assert len(calls) == 1  # one MLflow call, not one per request
    monkeypatch.setattr(cache, "MISSING_TTL_SECONDS", 0.0)
    model_cache()._missing.clear()
    with pytest.raises(cache.ModelNotFound):
        model_cache().get(name="no-such-model")
    assert len(calls) == 2
