"""The retraining API: list a model's runs (governance roles), read one, and
start one by hand (data scientists). Thin views over trainer.retraining."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from core.exceptions import NotFoundError
from governance import permissions
from trainer.retraining import retraining_start_manual
from trainer.selectors import retraining_run_list
from trainer.serializers import RunListQuery, RunLogOutput, RunOutput

VIA = "api"


def _require_view(request) -> None:
    if not permissions.can_view(request.user):
        raise permissions.deny(
            request.user,
            action="read retraining runs",
            reason="only governance roles may read retraining runs",
            via=VIA,
        )


class RunListStartApi(GenericAPIView):
    """A model's retraining runs: list them, or start one by hand."""

    serializer_class = RunOutput

    @extend_schema(parameters=[RunListQuery], responses=RunOutput(many=True))
    def get(self, request, name: str):
        _require_view(request)
        query = RunListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        qs = retraining_run_list(model_name=name)
        if query.validated_data.get("alert"):
            qs = qs.filter(trigger_key=f"alert:{query.validated_data['alert']}")
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(RunOutput(page, many=True).data)

    @extend_schema(request=None, responses={202: RunOutput})
    def post(self, request, name: str):
        if not permissions.can_request(request.user):
            raise permissions.deny(
                request.user,
                action="retraining_start",
                reason="only requesters (data scientists) may start a retraining",
                model_name=name,
                via=VIA,
            )
        run = retraining_start_manual(model_name=name, user=request.user)
        return Response(RunOutput(run).data, status=status.HTTP_202_ACCEPTED)


class RunDetailApi(APIView):
    """One run with the trainer's output (``log``)."""

    @extend_schema(responses=RunLogOutput)
    def get(self, request, name: str, pk: int):
        _require_view(request)
        run = retraining_run_list(model_name=name).filter(pk=pk).first()
        if run is None:
            raise NotFoundError(f"{name} has no retraining run #{pk}")
        return Response(RunLogOutput(run).data)
