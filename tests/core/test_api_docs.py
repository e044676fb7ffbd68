"""The API docs: every endpoint grouped under its app, and a way back to the app."""

import pytest
from drf_spectacular.generators import SchemaGenerator

APPS = {"inference", "governance", "monitoring", "trainer"}


def test_every_operation_is_tagged_with_its_app():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    tags = {
        (path, method): operation.get("tags", [])
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    }
    assert tags  # the schema has operations at all
    untagged = {op: t for op, t in tags.items() if len(t) != 1 or t[0] not in APPS}
    assert not untagged
    by_app = {t[0] for t in tags.values()}
    assert by_app == APPS
    assert tags[("/api/monitoring/alerts/", "get")] == ["monitoring"]
    assert tags[("/invocations", "post")] == ["inference"]
    assert tags[("/api/retraining/models/{name}/runs/", "post")] == ["trainer"]
    assert [t["name"] for t in schema["tags"]] == [
        "inference",
        "governance",
        "monitoring",
        "trainer",
    ]


@pytest.mark.django_db
def test_the_docs_page_links_back_to_the_app(client):
    html = client.get("/api/docs/").content.decode()
    assert 'href="/"' in html and "Back to the app" in html
    assert 'id="swagger-ui"' in html
    assert "favicon.svg" in html
