"""The keyed lookup's own statement on PostgreSQL answers exactly what the
ORM reads, and a key-only row logs the entry's inputs unchanged (numbers
included) although they are handed to the log as stored JSON."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.utils import timezone

from inference.models import PrecomputedPrediction, PredictionLog
from inference.services.precomputed import (
    LOOKUP_FIELDS,
    inputs_hash,
    precomputed_find,
    precomputed_store,
)
from inference.serving import model_cache
from inference.validation import Field

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the lookup's own statement"
)

FIELDS = (Field("age", "double"), Field("name", "string"), Field("n", "long"))


def _entry(key: str, version: int = 1, **values) -> PrecomputedPrediction:
    now = timezone.now()
    inputs = values.pop("inputs", {"age": 41.5, "name": "Ünïcode 🙂", "n": 7})
    return PrecomputedPrediction.objects.create(
        model_name="m",
        model_version=version,
        key=key,
        inputs=inputs,
        inputs_hash=inputs_hash(inputs, FIELDS),
        prediction=values.pop("prediction", "spam"),
        probabilities=values.pop("probabilities", {"ham": 0.25, "spam": 0.75}),
        outlier_score=values.pop("outlier_score", 0.125),
        is_outlier=values.pop("is_outlier", False),
        computed_at=values.pop("computed_at", now),
        expires_at=values.pop("expires_at", now + timedelta(hours=1)),
    )


@pytest.mark.django_db
def test_the_lookup_reads_what_the_orm_reads(monkeypatch):
    _entry("a")
    _entry(
        "b",
        inputs={"age": 1e-7, "name": 'quote " and \\ slash\n', "n": -(2**63)},
        prediction=3,
        probabilities=None,
        outlier_score=None,
        is_outlier=True,
        computed_at=timezone.now() - timedelta(hours=2),
        expires_at=timezone.now() - timedelta(hours=1),  # expired: still read
    )
    _entry("ç/键", inputs={"age": 0.1, "name": "x", "n": 2**63 - 1}, prediction=2.5)
    _entry("a", version=2, prediction="ham")  # another version: never read
    keys = ["a", "b", "ç/键", "a", "missing"]
    # when the store is asked for the keys of m v1 (one repeated, one unknown)
    found = precomputed_find(name="m", version=1, keys=keys)
    # then it answers each known key once, with the entry's values
    assert sorted(found) == ["a", "b", "ç/键"]
    monkeypatch.setattr(connections[DEFAULT_DB_ALIAS], "vendor", "other")
    expected = precomputed_find(name="m", version=1, keys=keys)  # the ORM's read
    monkeypatch.undo()
    assert sorted(expected) == sorted(found)
    for key, entry in found.items():
        orm = expected[key]
        for name in LOOKUP_FIELDS:
            if name == "inputs":
                # the stored JSON itself, which decodes to the entry's inputs
                assert isinstance(entry.inputs, orjson.Fragment)
                assert orjson.loads(orjson.dumps(entry.inputs)) == orm.inputs
            else:
                assert getattr(entry, name) == getattr(orm, name), (key, name)
                assert type(getattr(entry, name)) is type(getattr(orm, name))
    assert found["b"].probabilities is None
    assert found["ç/键"].prediction == 2.5
    assert found["a"].computed_at.utcoffset() == timedelta(0)


@pytest.mark.django_db
def test_no_keys_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert precomputed_find(name="m", version=1, keys=[]) == {}


@pytest.mark.django_db
def test_key_only_rows_log_the_entries_numbers_unchanged(served_tabular, api):
    served = model_cache().get(name="breast-cancer")
    first = served.inputs[0].name
    # numbers that JSON text could round or reformat; 10 rows: the log's COPY
    rows = [
        {**served.example, first: value}
        for value in (1e-7, 0.1, 1e16, 123456.789, 2.5e-300, 0, 1, 17.25, 3.0, 99.5)
    ]
    precomputed_store(
        served=served,
        keys=[f"p{i}" for i in range(len(rows))],
        rows=rows,
        result=served.predict(rows),
        computed_at=timezone.now(),
        ttl=timedelta(hours=1),
    )
    entries = {e.key: e for e in PrecomputedPrediction.objects.all()}
    # when a client asks by keys alone
    response = api.post(
        "/api/v1/models/breast-cancer/predict",
        {"keyed": [{"key": f"p{i}"} for i in range(len(rows))]},
        format="json",
    )
    # then the precomputed answers are logged with the entries' inputs
    assert response.status_code == 200, response.content
    answered = response.json()["predictions"]
    assert {a["source"] for a in answered} == {"precomputed"}
    logged = {log.row_index: log for log in PredictionLog.objects.all()}
    assert len(logged) == len(rows)
    for i, row in enumerate(rows):
        entry = entries[f"p{i}"]
        assert answered[i]["probabilities"] == entry.probabilities
        assert logged[i].source == "precomputed"
        assert logged[i].inputs == entry.inputs == row
        assert logged[i].probabilities == entry.probabilities
