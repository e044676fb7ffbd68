"""The try forms help: prefilled from the version's input example, each
number's training range, a typical row; blank text refused on the page and
the API without scoring or logging."""

import json
import re

import pandas as pd
import pytest

from core.ml.field_ranges import field_ranges, field_ranges_parse, field_ranges_tag
from inference.models import PredictionLog
from inference.validation import Field, check_value, parse_csv_value


def test_field_ranges_cover_numbers_only():
    frame = pd.DataFrame(
        {
            "a": [1.0, 2.0, 10.0],
            "b": [True, False, True],
            "text": ["x", "y", "z"],
            "n": [3, 1, 2],
            "empty": [None, None, None],
        }
    )
    assert field_ranges(frame) == {"a": [1.0, 2.0, 10.0], "n": [1.0, 2.0, 3.0]}
    assert field_ranges_parse(field_ranges_tag(frame))["a"] == (1.0, 2.0, 10.0)
    assert field_ranges_parse("not json") == {}
    assert field_ranges_parse('{"a": [1, 2]}') == {}


def test_blank_text_is_refused_by_the_one_validation():
    message = Field("message", "string", True)
    assert check_value("   \n\t", message, 100) == "may not be blank"
    assert check_value("hi", message, 100) is None
    assert check_value("", Field("note", "string", False), 100) is None
    with pytest.raises(ValueError, match="may not be blank"):
        parse_csv_value("", message, 100)


@pytest.fixture
def person(client, make_user):
    user = make_user("tina", roles=["requesters"])
    client.force_login(user)
    return user


def test_try_page_prefills_the_example_and_shows_training_ranges(
    client, person, served_tabular
):
    from governance.models import ModelVersion

    version = ModelVersion.objects.get(registered_model__name="breast-cancer")
    ranges = json.loads(version.tags["modelgate.field_ranges"])
    first = version.signature["inputs"][0]["name"]
    low, median, high = ranges[first]
    assert low <= median <= high

    page = client.get("/models/breast-cancer/try").content.decode()

    assert 'id="fill-typical"' in page
    tag = re.search(rf'<input[^>]*name="{first}"[^>]*>', page).group(0)
    value = float(re.search(r'value="([^"]+)"', tag).group(1))
    assert low <= value <= high  # the input example's row, not a blank
    assert float(re.search(r'data-typical="([^"]+)"', tag).group(1)) == median
    label = page[page.index(f">{first} <small") :][:300]
    assert "range" in label and "median" in label


def test_the_spam_page_refuses_a_blank_message_without_scoring(
    client, person, served_sms
):
    response = client.post("/predict/spam", {"message": "  \n\t "})
    assert response.status_code == 400
    assert "may not be blank" in response.content.decode()
    assert PredictionLog.objects.count() == 0


def test_the_api_refuses_blank_text_naming_the_field(client, make_user, served_sms):
    user = make_user("api-blank", roles=["api_clients"])
    client.force_login(user)
    response = client.post(
        "/api/v1/models/sms-spam/predict",
        {"inputs": [{"message": "hello"}, {"message": "   "}]},
        content_type="application/json",
    )
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert any("may not be blank" in m for m in fields.get("inputs[1].message", []))
    assert PredictionLog.objects.count() == 0
