"""The orjson renderer gives the same JSON as DRF's, and falls back for what
orjson does not take (pure, no database)."""

from __future__ import annotations

import json
import math
import uuid
from decimal import Decimal

from rest_framework.renderers import JSONRenderer

from core.renderers import FastJSONRenderer, json_text


def test_same_json_as_drf_for_a_prediction_body():
    body = {
        "model_name": "sms-spam",
        "model_version": 3,
        "predictions": [
            {
                "prediction_id": uuid.UUID(int=7),
                "label": "ham",
                "probabilities": {"ham": 0.1, "spam": 0.9},
                "is_outlier": False,
                "outlier_score": None,
            }
        ],
        "note": 'Ünïcode 🙂 \\ " \n',
    }
    fast = FastJSONRenderer().render(body)
    slow = JSONRenderer().render(body)
    assert isinstance(fast, bytes)
    assert json.loads(fast) == json.loads(slow)
    assert fast == slow  # compact, UTF-8, same float and UUID text


def test_falls_back_for_types_orjson_does_not_take():
    body = {"price": Decimal("1.50"), "big": 2**70}
    assert FastJSONRenderer().render(body) == JSONRenderer().render(body)
    assert FastJSONRenderer().render(None) == b""


def test_indented_output_is_drfs():
    rendered = (
        FastJSONRenderer().render({"a": 1}, "application/json; indent=2", {}).decode()
    )
    assert rendered == '{\n  "a": 1\n}'


def test_json_text_for_log_columns():
    assert json_text({"message": "hé 🙂"}) == '{"message":"hé 🙂"}'
    assert json.loads(json_text({"ham": 0.25, "spam": 0.75})) == {
        "ham": 0.25,
        "spam": 0.75,
    }
    assert json_text(math.nan) == "null"  # JSON has no NaN; PostgreSQL refuses it
    assert json.loads(json_text({"big": 2**70})) == {"big": 2**70}
