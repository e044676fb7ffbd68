"""OpenAPI post-processing: document the error answers every endpoint can give.

The exception handler (``core.exceptions``) answers any view with a JSON error
for a refused login (401), a refused permission (403), an unknown object (404),
a method or media type the view does not take (405, 406, 415), a throttle
(429) and invalid input (400); writes may also conflict (409). Views that do
not list these still give them, so the schema says so for every operation.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.settings import spectacular_settings


class AppTaggedSchema(AutoSchema):
    """Tags every operation with the Django app of its view (one of the tags
    of ``SPECTACULAR_SETTINGS["TAGS"]``: inference, governance, monitoring)
    instead of the first segment of its path, which is "api" for most of them.
    An explicit ``extend_schema(tags=...)`` still wins."""

    def get_tags(self) -> list[str]:
        app = type(self.view).__module__.split(".")[0]
        if any(tag["name"] == app for tag in spectacular_settings.TAGS):
            return [app]
        return super().get_tags()


ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "array",
                        "items": {"type": "string"},
                    },
                },
            },
            "required": ["code", "message"],
        }
    },
    "required": ["error"],
}
COMMON = {
    "400": "Invalid input",
    "401": "Not signed in",
    "403": "Not allowed",
    "404": "Not found",
    "405": "Method not allowed",
    "406": "Not acceptable",
    "415": "Unsupported media type",
    "429": "Too many requests",
}
WRITES = {"409": "Conflict with the current state"}


def document_error_responses(result, generator, request, public):
    """drf-spectacular hook: add the common error answers where missing."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    name = "Error" if "Error" in schemas else "ApiError"
    schemas.setdefault(name, ERROR_SCHEMA)
    content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            codes = COMMON | (WRITES if method != "get" else {})
            for code, description in codes.items():
                operation["responses"].setdefault(
                    code, {"description": description, "content": content}
                )
    return result
