"""The edge channel's API: the ONNX export of a governed alias, and the
telemetry of predictions browsers made with it."""

from __future__ import annotations

import json

from django.http import FileResponse, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.exceptions import ApplicationError
from core.parsers import CappedJSONParser
from core.renderers import FastJSONRenderer
from inference.apis import _ERR, COMMON_ERRORS, model_selector
from inference.permissions import CanPredict
from inference.services.edge import edge_model_get, edge_telemetry_record
from inference.throttles import FeedbackThrottle, PredictThrottle


class EdgeModelApi(APIView):
    """GET the ONNX file of ``name@alias``; revalidate with ``If-None-Match``."""

    permission_classes = [IsAuthenticated, CanPredict]
    throttle_classes = [PredictThrottle]

    @extend_schema(
        operation_id="edge_model",
        summary="The ONNX export of the version an alias serves (edge)",
        description=(
            "Only the governed aliases (production, staging) and only a version "
            "whose export passed its parity test; 404 with the reason otherwise. "
            "Headers: ETag (changes when the alias moves), X-Model-Version, "
            "X-Model-Sha256, X-Model-Opset, X-Model-Inputs and X-Model-Labels "
            "(JSON: the input names and types, the order of the probabilities)."
        ),
        parameters=[
            OpenApiParameter(
                "alias", str, description="production (default) or staging"
            ),
        ],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY),
            304: None,
            400: _ERR,
            409: _ERR,
            **COMMON_ERRORS,
        },
    )
    def get(self, request, name: str):
        alias, version = model_selector(request.query_params)
        if version is not None:
            raise ApplicationError(
                "the edge serves aliases, not version numbers",
                {"fields": {"version": ["not accepted here"]}},
                code="invalid_input",
            )
        edge = edge_model_get(name=name, user=request.user, alias=alias)
        headers = {
            "ETag": edge.etag,
            "Cache-Control": "private, no-cache",  # revalidate every time
            "X-Model-Name": edge.name,
            "X-Model-Alias": edge.alias,
            "X-Model-Version": str(edge.version),
            "X-Model-Sha256": edge.sha256,
            "X-Model-Opset": str(edge.opset),
            "X-Model-Inputs": json.dumps(edge.inputs),
            "X-Model-Labels": json.dumps(edge.labels),
        }
        if edge.etag in _etags(request.headers.get("If-None-Match", "")):
            response = HttpResponse(status=304)
        else:
            response = FileResponse(
                open(edge.path, "rb"),  # noqa: SIM115 - FileResponse closes it
                content_type="application/octet-stream",
                filename=f"{edge.name}-v{edge.version}.onnx",
            )
        for key, value in headers.items():
            response[key] = value
        return response


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag}


class EdgeTelemetryApi(APIView):
    """POST predictions made in browsers; each is logged once."""

    parser_classes = [CappedJSONParser]
    renderer_classes = [FastJSONRenderer]
    permission_classes = [IsAuthenticated, CanPredict]
    throttle_classes = [FeedbackThrottle]

    @extend_schema(
        operation_id="edge_telemetry",
        summary="Report predictions made with an edge export (logged once each)",
        description=(
            'Body: `{"alias": "production", "items": [{"id": "<uuid made by the '
            'client>", "version": 3, "inputs": {...}, "label": "spam", '
            '"probabilities": {...}, "predicted_at": "2026-12-04T20:00:00Z", '
            '"latency_ms": 1.5}]}`, up to 500 items. Items are checked before '
            "anything is written; an id reported before is answered `duplicate` "
            "with its first prediction id. The prediction ids take feedback like "
            "any other."
        ),
        request=OpenApiTypes.OBJECT,
        responses={
            200: OpenApiTypes.OBJECT,
            400: _ERR,
            409: _ERR,
            413: _ERR,
            **COMMON_ERRORS,
        },
    )
    def post(self, request, name: str):
        body = request.data if isinstance(request.data, dict) else {}
        alias = body.get("alias") or ""
        if not isinstance(alias, str) or len(alias) > 64:
            raise ApplicationError(
                "alias: the alias the export was fetched under",
                {"fields": {"alias": ["invalid alias"]}},
                code="invalid_input",
            )
        results = edge_telemetry_record(
            name=name, items=body.get("items"), client=request.user, alias=alias
        )
        created = sum(r["status"] == "created" for r in results)
        return Response(
            {
                "created": created,
                "duplicates": len(results) - created,
                "results": results,
            }
        )
