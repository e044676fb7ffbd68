"""The inference REST API: predict, /invocations, predictions, feedback, batch.

Thin views: parse, call one service, serialize. Every refused or failed
prediction request is recorded as a ``RequestError`` (outside any transaction).
"""

from __future__ import annotations

import logging
import re
import time

from django.conf import settings
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.exceptions import (
    ApplicationError,
    NotFoundError,
    PermissionDeniedError,
    error_body,
)
from core.pagination import CappedPageNumberPagination
from core.parsers import CappedJSONParser
from core.renderers import FastJSONRenderer
from inference import selectors
from inference.choices import BatchStatus, PredictionSource
from inference.permissions import CanPredict, CanSendFeedback, can_precompute
from inference.serializers import (
    BatchJobCreateSerializer,
    BatchJobPageSerializer,
    BatchJobSerializer,
    BulkFeedbackRequestSerializer,
    BulkFeedbackResponseSerializer,
    ErrorSerializer,
    FeedbackRequestSerializer,
    FeedbackResponseSerializer,
    InvocationsResponseSerializer,
    PredictionPageSerializer,
    PredictionSerializer,
    PredictRequestSerializer,
    PredictResponseSerializer,
)
from inference.services.batch import batch_job_create, upload_body_cap
from inference.services.batch_files import results_open
from inference.services.feedback import feedback_bulk_record, feedback_record
from inference.services.idempotency import request_id_check
from inference.services.predict import (
    prediction_serve,
    request_error_record,
    served_model_get,
)
from inference.throttles import BatchThrottle, FeedbackThrottle, PredictThrottle

logger = logging.getLogger(__name__)

ALIAS_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ERR = OpenApiResponse(ErrorSerializer)
COMMON_ERRORS = {401: _ERR, 403: _ERR, 404: _ERR, 405: _ERR, 406: _ERR, 429: _ERR}
BODY_ERRORS = {400: _ERR, 413: _ERR, 415: _ERR}
PREDICT_ERRORS = {**COMMON_ERRORS, **BODY_ERRORS, 409: _ERR, 500: _ERR, 503: _ERR}

SELECTOR_PARAMS = [
    OpenApiParameter("alias", str, description="Alias to serve (default: production)."),
    OpenApiParameter("version", int, description="Serve this version instead."),
]
REQUEST_ID_PARAM = OpenApiParameter(
    "X-Request-ID",
    str,
    location=OpenApiParameter.HEADER,
    description="Idempotency key, unique per client: a retry returns the stored "
    "response.",
)


def model_selector(params) -> tuple[str | None, int | None]:
    """``alias`` / ``version`` query parameters, checked."""
    alias = params.get("alias") or None
    raw_version = params.get("version") or None
    if alias is not None and not ALIAS_RE.match(alias):
        raise ApplicationError(
            "alias: letters, digits, - and _ only",
            {"fields": {"alias": ["invalid alias"]}},
            code="invalid_input",
        )
    version = None
    if raw_version is not None:
        if not raw_version.isdigit() or not 0 < int(raw_version) < 2**31:
            raise ApplicationError(
                "version must be a positive integer",
                {"fields": {"version": ["invalid version"]}},
                code="invalid_input",
            )
        version = int(raw_version)
    if alias and version:
        raise ApplicationError(
            "give alias or version, not both",
            {"fields": {"alias": ["conflicts with version"]}},
            code="invalid_input",
        )
    return alias, version


class _PredictBase(APIView):
    """Shared behaviour of the prediction endpoints: capped JSON body, the
    predict permission and throttle, and a RequestError row for every refusal."""

    parser_classes = [CappedJSONParser]
    renderer_classes = [FastJSONRenderer]
    permission_classes = [IsAuthenticated, CanPredict]
    throttle_classes = [PredictThrottle]
    channel = PredictionSource.API

    def initial(self, request, *args, **kwargs):
        self._started = time.perf_counter()
        self._served_version = None
        super().initial(request, *args, **kwargs)

    def model_name(self) -> str:
        return str(self.kwargs.get("name", ""))

    def handle_exception(self, exc):
        try:
            response = super().handle_exception(exc)
        except Exception:
            logger.exception("prediction of %s failed", self.model_name())
            response = Response(
                error_body(
                    "internal_error", "the prediction failed; nothing was logged"
                ),
                status=status.HTTP_500_INTERNAL_SERVER_ERROR,
            )
        data = response.data if isinstance(response.data, dict) else {}
        user = getattr(self.request, "user", None)
        request_error_record(
            model_name=self.model_name(),
            model_version=getattr(self, "_served_version", None),
            status_code=response.status_code,
            code=str(data.get("error", {}).get("code", "error")),
            client=user if user is not None and user.is_authenticated else None,
            channel=self.channel,
        )
        return response

    def serve(self, request, *, name: str, alias, version):
        # the body and the request id are checked before the model is looked up
        payload = request.data
        request_id = request_id_check(request.headers.get("X-Request-ID"))
        served, served_as = served_model_get(
            name=name, user=request.user, alias=alias, version=version
        )
        self._served_version = served.version  # for a refusal after this point
        return prediction_serve(
            served=served,
            served_as=served_as,
            payload=payload,
            client=request.user,
            alias=alias,
            version=version,
            channel=self.channel,
            request_id=request_id,
            started=self._started,
        )


class PredictApi(_PredictBase):
    @extend_schema(
        operation_id="predict",
        summary="Predict one or many rows with a registered model",
        description=(
            'Body: `{"inputs": [{...}, ...]}` or any of MLflow\'s scoring formats '
            "(`dataframe_split`, `dataframe_records`, `instances`). Every row is "
            "validated against the model's signature and logged. Hybrid serving: "
            '`{"keyed": [{"key": "c42"}, {"key": "c7", "inputs": {...}}]}` answers '
            "each key from the precomputed store (a fresh entry of the served "
            'version, for the same inputs when sent: `source: "precomputed"`) '
            'or online (`source: "online"`, which needs the inputs); a key with '
            "neither gets 404 `precomputed_not_found` or 410 `precomputed_expired`."
        ),
        parameters=[*SELECTOR_PARAMS, REQUEST_ID_PARAM],
        request=PredictRequestSerializer,
        responses={200: PredictResponseSerializer, **PREDICT_ERRORS},
    )
    def post(self, request, name: str):
        if len(name) > 256:
            raise NotFoundError("unknown model")
        alias, version = model_selector(request.query_params)
        outcome = self.serve(request, name=name, alias=alias, version=version)
        return Response(
            outcome.body, headers={"X-Request-ID": outcome.body["request_id"]}
        )


class InvocationsApi(_PredictBase):
    """MLflow's scoring endpoint, served by the default model's production alias."""

    channel = PredictionSource.INVOCATIONS

    def model_name(self) -> str:
        return settings.MODELGATE["DEFAULT_MODEL"]

    @extend_schema(
        operation_id="invocations",
        summary="MLflow-compatible scoring (default model, production alias)",
        description=(
            "Same request and response bodies as `mlflow models serve`: a client "
            "switches by changing the URL (and sending its token)."
        ),
        parameters=[REQUEST_ID_PARAM],
        request=PredictRequestSerializer,
        responses={200: InvocationsResponseSerializer, **PREDICT_ERRORS},
    )
    def post(self, request):
        outcome = self.serve(request, name=self.model_name(), alias=None, version=None)
        labels = [row["label"] for row in outcome.body["predictions"]]
        return Response(
            {"predictions": labels},
            headers={"X-Request-ID": outcome.body["request_id"]},
        )


class PredictionListApi(APIView):
    @extend_schema(
        operation_id="predictions_list",
        summary="Your predictions, newest first",
        parameters=[
            OpenApiParameter("model", str, description="Only this model."),
            OpenApiParameter("page", int),
            OpenApiParameter("page_size", int),
        ],
        responses={200: PredictionPageSerializer, **COMMON_ERRORS, 400: _ERR},
    )
    def get(self, request):
        qs = selectors.prediction_list_for_client(
            client=request.user, model_name=request.query_params.get("model") or None
        )
        paginator = CappedPageNumberPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(
            PredictionSerializer(page, many=True).data
        )


class PredictionDetailApi(APIView):
    @extend_schema(
        operation_id="predictions_retrieve",
        summary="One of your predictions (404 for anyone else's)",
        responses={200: PredictionSerializer, **COMMON_ERRORS},
    )
    def get(self, request, prediction_id):
        found = selectors.prediction_get_for_client(
            client=request.user, prediction_id=prediction_id
        )
        if found is None:
            raise NotFoundError("unknown prediction id")
        return Response(PredictionSerializer(found).data)


class FeedbackApi(APIView):
    parser_classes = [CappedJSONParser]
    renderer_classes = [FastJSONRenderer]
    permission_classes = [IsAuthenticated, CanSendFeedback]
    throttle_classes = [FeedbackThrottle]

    @extend_schema(
        operation_id="feedback_create",
        summary="Send the true label of one of your predictions",
        description=(
            "A second label replaces the first; the change is kept. Predictions "
            "of the stream consumer and of scheduled batch jobs are labelled by "
            "their owning account (INFERENCE_STREAM_CLIENT, "
            "INFERENCE_SCHEDULED_BATCH_CLIENT) or by the label roles."
        ),
        request=FeedbackRequestSerializer,
        responses={200: FeedbackResponseSerializer, **COMMON_ERRORS, **BODY_ERRORS},
    )
    def post(self, request, prediction_id):
        if not isinstance(request.data, dict) or "label" not in request.data:
            raise ApplicationError(
                "label is required",
                {"fields": {"label": ["this field is required"]}},
                code="invalid_input",
            )
        outcome = feedback_record(
            prediction_id=prediction_id,
            label=request.data["label"],
            client=request.user,
        )
        return Response(
            FeedbackResponseSerializer(
                {
                    "prediction_id": outcome.prediction_id,
                    "label": outcome.label,
                    "status": outcome.status,
                }
            ).data
        )


class BulkFeedbackApi(APIView):
    parser_classes = [CappedJSONParser]
    renderer_classes = [FastJSONRenderer]
    permission_classes = [IsAuthenticated, CanSendFeedback]
    throttle_classes = [FeedbackThrottle]

    @extend_schema(
        operation_id="feedback_bulk",
        summary="Send up to 10,000 labels; each item gets its own result",
        request=BulkFeedbackRequestSerializer,
        responses={200: BulkFeedbackResponseSerializer, **COMMON_ERRORS, **BODY_ERRORS},
    )
    def post(self, request):
        items = request.data.get("items") if isinstance(request.data, dict) else None
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ApplicationError(
                "items must be a list of {prediction_id, label} objects",
                {"fields": {"items": ["expected a list of objects"]}},
                code="invalid_input",
            )
        results = feedback_bulk_record(items=items, client=request.user)
        counts = {"created": 0, "replaced": 0, "unchanged": 0, "errors": 0}
        for r in results:
            counts["errors" if r["status"] == "error" else r["status"]] += 1
        return Response({**counts, "results": results})


class BatchJobListApi(APIView):
    parser_classes = [MultiPartParser, CappedJSONParser]
    permission_classes = [IsAuthenticated, CanPredict]
    max_body_bytes = staticmethod(upload_body_cap)  # core.limits

    def get_throttles(self):
        if self.request.method == "POST":
            return [BatchThrottle()]
        return super().get_throttles()

    @extend_schema(
        operation_id="batch_jobs_list",
        summary="Your batch jobs, newest first",
        parameters=[OpenApiParameter("page", int), OpenApiParameter("page_size", int)],
        responses={200: BatchJobPageSerializer, **COMMON_ERRORS, 400: _ERR},
    )
    def get(self, request):
        paginator = CappedPageNumberPagination()
        page = paginator.paginate_queryset(
            selectors.batch_job_list_for_client(client=request.user), request, self
        )
        return paginator.get_paginated_response(
            BatchJobSerializer(page, many=True).data
        )

    @extend_schema(
        operation_id="batch_jobs_create",
        summary="Start a batch job from an uploaded CSV or a server-side file",
        request={
            "multipart/form-data": BatchJobCreateSerializer,
            "application/json": BatchJobCreateSerializer,
        },
        responses={202: BatchJobSerializer, **PREDICT_ERRORS},
    )
    def post(self, request):
        serializer = BatchJobCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if data.get("key_column") and not can_precompute(request.user):
            raise PermissionDeniedError(
                "filling the precomputed store needs one of the roles "
                + ", ".join(settings.INFERENCE["PRECOMPUTE_ROLES"]),
                code="precompute_not_permitted",
            )
        job = batch_job_create(
            model_name=data["model"],
            client=request.user,
            alias=data.get("alias"),
            version=data.get("version"),
            upload=data.get("file"),
            server_path=data.get("path"),
            key_column=data.get("key_column", ""),
            ttl_seconds=data.get("ttl_seconds"),
        )
        return Response(BatchJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class BatchJobDetailApi(APIView):
    @extend_schema(
        operation_id="batch_jobs_retrieve",
        summary="A batch job with its progress",
        responses={200: BatchJobSerializer, **COMMON_ERRORS},
    )
    def get(self, request, job_id):
        job = selectors.batch_job_get_for_client(client=request.user, job_id=job_id)
        if job is None:
            raise NotFoundError("unknown batch job")
        return Response(BatchJobSerializer(job).data)


class BatchJobResultsApi(APIView):
    @extend_schema(
        operation_id="batch_jobs_results",
        summary="The results CSV of a finished batch job",
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY),
            409: _ERR,
            **COMMON_ERRORS,
        },
    )
    def get(self, request, job_id):
        job = selectors.batch_job_get_for_client(client=request.user, job_id=job_id)
        if job is None:
            raise NotFoundError("unknown batch job")
        if job.status != BatchStatus.SUCCEEDED or not job.output_path:
            raise ApplicationError(
                f"the job is {job.status}; results exist once it has succeeded",
                code="not_ready",
                status_code=409,
            )
        try:
            handle = results_open(job.output_path)
        except FileNotFoundError as exc:
            raise NotFoundError("the results file of this job is missing") from exc
        # streamed in chunks; FileResponse closes the file
        return FileResponse(
            handle,
            as_attachment=True,
            filename=f"batch-{job.pk}-results.csv",
            content_type="text/csv",
        )
