"""The governance REST API: thin views that parse input, call one service or
selector and serialize the result. Rules live in the services."""

from __future__ import annotations

from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.exceptions import NotFoundError
from governance import permissions
from governance.choices import RequestStatus
from governance.selectors import (
    alias_held_at,
    alias_timeline,
    audit_event_list,
    policy_list,
    promotion_request_get,
    promotion_request_list,
    registered_model_list,
    review_queue,
)
from governance.serializers import (
    AliasHistoryOutput,
    AliasHistoryQuery,
    AuditEventOutput,
    AuditQuery,
    CancelInput,
    DecisionInput,
    ModelOutput,
    PolicyOutput,
    RejectInput,
    RequestCreateInput,
    RequestListQuery,
    RequestOutput,
    RollbackInput,
    WebhookOutput,
)
from governance.services.approvals import (
    emergency_rollback_confirm,
    promotion_approve,
    promotion_reject,
)
from governance.services.requests import (
    promotion_request_cancel,
    promotion_request_create,
)
from governance.services.rollback import (
    promotion_emergency_rollback,
    promotion_rollback_request,
)
from governance.services.webhooks import webhook_receive

VIA = "api"


def _require_view(request, what: str) -> None:
    if not permissions.can_view(request.user):
        raise permissions.deny(
            request.user,
            action=f"read {what}",
            reason="only governance roles may read governance data",
            via=VIA,
        )


def _valid(serializer_class, data):
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _request_response(request_id: int, code: int = status.HTTP_200_OK) -> Response:
    return Response(
        RequestOutput(promotion_request_get(request_id=request_id)).data, status=code
    )


@extend_schema(tags=["governance"])
class RequestListCreateApi(GenericAPIView):
    """Promotion requests: list (filterable) and create."""

    serializer_class = RequestOutput

    @extend_schema(parameters=[RequestListQuery], responses=RequestOutput(many=True))
    def get(self, request):
        _require_view(request, "promotion requests")
        query = _valid(RequestListQuery, request.query_params)
        qs = (
            review_queue(user=request.user)
            if query.get("awaiting_me")
            else promotion_request_list()
        )
        if query.get("status"):
            if query["status"] not in RequestStatus.values:
                qs = qs.none()
            qs = qs.filter(status=query["status"])
        if query.get("model"):
            qs = qs.filter(registered_model__name=query["model"])
        if query.get("target"):
            qs = qs.filter(target=query["target"])
        page = self.paginate_queryset(qs.order_by("-created_at"))
        return self.get_paginated_response(RequestOutput(page, many=True).data)

    @extend_schema(request=RequestCreateInput, responses={201: RequestOutput})
    def post(self, request):
        data = _valid(RequestCreateInput, request.data)
        created = promotion_request_create(
            user=request.user,
            model_name=data["model"],
            version=data["version"],
            target=data["target"],
            justification=data["justification"],
            via=VIA,
        )
        return _request_response(created.pk, status.HTTP_201_CREATED)


@extend_schema(tags=["governance"])
class RequestDetailApi(APIView):
    @extend_schema(responses=RequestOutput)
    def get(self, request, pk: int):
        _require_view(request, "a promotion request")
        found = promotion_request_get(request_id=pk)
        if found is None:
            raise NotFoundError(f"no promotion request #{pk}")
        return Response(RequestOutput(found).data)


@extend_schema(tags=["governance"])
class RequestCancelApi(APIView):
    @extend_schema(request=CancelInput, responses=RequestOutput)
    def post(self, request, pk: int):
        data = _valid(CancelInput, request.data)
        promotion_request_cancel(
            request_id=pk, user=request.user, reason=data.get("reason", ""), via=VIA
        )
        return _request_response(pk)


@extend_schema(tags=["governance"])
class RequestApproveApi(APIView):
    @extend_schema(request=DecisionInput, responses=RequestOutput)
    def post(self, request, pk: int):
        data = _valid(DecisionInput, request.data)
        promotion_approve(
            request_id=pk,
            user=request.user,
            comment=data.get("comment", ""),
            evidence_digest=data.get("evidence_digest"),
            via=VIA,
        )
        return _request_response(pk)


@extend_schema(tags=["governance"])
class RequestRejectApi(APIView):
    @extend_schema(request=RejectInput, responses=RequestOutput)
    def post(self, request, pk: int):
        data = _valid(RejectInput, request.data)
        promotion_reject(
            request_id=pk, user=request.user, comment=data["comment"], via=VIA
        )
        return _request_response(pk)


@extend_schema(tags=["governance"])
class RequestConfirmApi(APIView):
    """An approver's after-the-fact approval of an emergency rollback."""

    @extend_schema(request=DecisionInput, responses=RequestOutput)
    def post(self, request, pk: int):
        data = _valid(DecisionInput, request.data)
        emergency_rollback_confirm(
            request_id=pk, user=request.user, comment=data.get("comment", ""), via=VIA
        )
        return _request_response(pk)


@extend_schema(tags=["governance"])
class ModelListApi(GenericAPIView):
    serializer_class = ModelOutput

    @extend_schema(responses=ModelOutput(many=True))
    def get(self, request):
        _require_view(request, "the registry")
        page = self.paginate_queryset(registered_model_list())
        return self.get_paginated_response(ModelOutput(page, many=True).data)


@extend_schema(tags=["governance"])
class RollbackApi(APIView):
    """Ask for the previous production version back (rollback policy)."""

    @extend_schema(request=RollbackInput, responses={201: RequestOutput})
    def post(self, request, name: str):
        data = _valid(RollbackInput, request.data)
        created = promotion_rollback_request(
            user=request.user,
            model_name=name,
            justification=data["justification"],
            via=VIA,
        )
        return _request_response(created.pk, status.HTTP_201_CREATED)


@extend_schema(tags=["governance"])
class EmergencyRollbackApi(APIView):
    """Put the previous version back in production now (ops); an approver must
    confirm it afterwards."""

    @extend_schema(request=RollbackInput, responses={201: RequestOutput})
    def post(self, request, name: str):
        data = _valid(RollbackInput, request.data)
        created = promotion_emergency_rollback(
            user=request.user,
            model_name=name,
            justification=data["justification"],
            via=VIA,
        )
        return _request_response(created.pk, status.HTTP_201_CREATED)


@extend_schema(tags=["governance"])
class AliasHistoryApi(APIView):
    """Who held an alias when: the timeline, or the holder at one instant
    (``?at=``) with its approvers and policy."""

    @extend_schema(parameters=[AliasHistoryQuery], responses=AliasHistoryOutput)
    def get(self, request, name: str, alias: str):
        _require_view(request, "alias history")
        query = _valid(AliasHistoryQuery, request.query_params)
        at = query.get("at")
        held = alias_held_at(model_name=name, alias=alias, at=at) if at else None
        body = {
            "model": name,
            "alias": alias,
            "at": at,
            "held": held,
            "timeline": alias_timeline(model_name=name, alias=alias),
        }
        return Response(AliasHistoryOutput(body).data)


@extend_schema(tags=["governance"])
class AuditEventListApi(GenericAPIView):
    """The audit ledger, newest first (read-only: there is no write endpoint)."""

    serializer_class = AuditEventOutput

    @extend_schema(parameters=[AuditQuery], responses=AuditEventOutput(many=True))
    def get(self, request):
        _require_view(request, "the audit ledger")
        query = _valid(AuditQuery, request.query_params)
        qs = audit_event_list()
        if query.get("model"):
            qs = qs.filter(model_name=query["model"])
        if query.get("kind"):
            qs = qs.filter(kind=query["kind"])
        if query.get("request"):
            qs = qs.filter(request_ref=query["request"])
        if query.get("since"):
            qs = qs.filter(created_at__gte=query["since"])
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(AuditEventOutput(page, many=True).data)


@extend_schema(tags=["governance"])
class PolicyListApi(GenericAPIView):
    serializer_class = PolicyOutput

    @extend_schema(responses=PolicyOutput(many=True))
    def get(self, request):
        _require_view(request, "policies")
        qs = policy_list()
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(PolicyOutput(page, many=True).data)


@method_decorator(csrf_exempt, name="dispatch")
@extend_schema(tags=["governance"])
class MlflowWebhookApi(APIView):
    """Receiver of MLflow registry webhooks (HMAC-signed; no user login)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        request={"application/json": dict},
        responses=WebhookOutput,
        parameters=[
            OpenApiParameter("X-MLflow-Signature", location="header", required=True),
            OpenApiParameter("X-MLflow-Timestamp", location="header", required=True),
            OpenApiParameter("X-MLflow-Delivery-Id", location="header", required=True),
        ],
    )
    def post(self, request):
        result = webhook_receive(body=request.body, headers=request.headers)
        return Response(result)
