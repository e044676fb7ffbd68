"""Pages for people: the spam checker, a form for any model, batch jobs."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin, UserPassesTestMixin
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.views import View

from core.exceptions import ApplicationError
from governance.selectors import registered_model_list
from inference import selectors
from inference.choices import BatchStatus, PredictionSource
from inference.forms import form_fields
from inference.permissions import can_predict
from inference.services.batch import batch_job_create, upload_body_cap
from inference.services.batch_files import results_open
from inference.services.predict import (
    prediction_serve,
    request_error_record,
    served_model_get,
)
from inference.validation import parse_csv_value

logger = logging.getLogger(__name__)

STAGE_CHOICES = ("production", "staging")


class PredictorRequired(LoginRequiredMixin, UserPassesTestMixin):
    """Signed in, with a role that may predict (403 otherwise)."""

    raise_exception = False

    def test_func(self) -> bool:
        return can_predict(self.request.user)

    def get_permission_denied_message(self) -> str:
        roles = ", ".join(settings.INFERENCE["PREDICT_ROLES"])
        return (
            f"Sending predictions needs one of the roles {roles}. Viewers and "
            "approvers read models, reports and dashboards but do not send traffic."
        )

    def handle_no_permission(self):
        if self.request.user.is_authenticated:
            self.raise_exception = True
        return super().handle_no_permission()


def _error_text(exc: ApplicationError) -> str:
    fields = exc.extra.get("fields") or {}
    details = "; ".join(f"{k}: {v[0]}" for k, v in list(fields.items())[:5])
    return f"{exc.message}" + (
        f" ({details})" if details and details not in exc.message else ""
    )


def _serve_form(request, *, serving, alias: str, row: dict):
    """Predict one row from a page; returns (result dict | None, error | None)."""
    served, served_as = serving
    try:
        outcome = prediction_serve(
            served=served,
            served_as=served_as,
            payload={"inputs": [row]},
            client=request.user,
            alias=alias,
            channel=PredictionSource.WEB,
        )
    except ApplicationError as exc:
        request_error_record(
            model_name=served.name,
            status_code=exc.status_code,
            code=exc.code,
            client=request.user,
            channel=PredictionSource.WEB,
        )
        return None, _error_text(exc)
    body = outcome.body
    return {
        **body["predictions"][0],
        "model_name": body["model_name"],
        "model_version": body["model_version"],
    }, None


class SpamFormView(PredictorRequired, View):
    """Type a message, see spam or ham with the probability (logged, source=web)."""

    template_name = "inference/spam.html"

    def _context(self, **extra):
        return {"model_name": settings.MODELGATE["DEFAULT_MODEL"], **extra}

    def get(self, request):
        return render(request, self.template_name, self._context(message=""))

    def post(self, request):
        name = settings.MODELGATE["DEFAULT_MODEL"]
        message = request.POST.get("message", "")
        if not message.strip():
            return render(
                request,
                self.template_name,
                self._context(message=message, error="Message: may not be blank."),
                status=400,
            )
        try:
            serving = served_model_get(name=name, user=request.user)
        except ApplicationError as exc:
            return render(
                request,
                self.template_name,
                self._context(message=message, error=exc.message),
                status=503 if exc.status_code >= 500 else exc.status_code,
            )
        served = serving.model
        text_fields = [f.name for f in served.inputs if f.type == "string"] or [
            served.inputs[0].name
        ]
        result, error = _serve_form(
            request, serving=serving, alias="production", row={text_fields[0]: message}
        )
        context = self._context(message=message, result=result, error=error)
        if result and result.get("probabilities"):
            positive = served.tags.get("modelgate.positive_class") or "spam"
            context["positive"] = positive
            context["positive_probability"] = result["probabilities"].get(positive)
        return render(
            request, self.template_name, context, status=200 if result else 400
        )


class TryModelView(PredictorRequired, View):
    """A form built from a model's signature; predicts one row."""

    template_name = "inference/try.html"

    def page(self, request, context: dict, status: int = 200):
        context["model_names"] = [m.name for m in registered_model_list()]
        return render(request, self.template_name, context, status=status)

    def _load(self, request, name: str, alias: str):
        try:
            return served_model_get(name=name, user=request.user, alias=alias), None
        except ApplicationError as exc:
            return None, exc

    def _alias(self, request) -> str:
        alias = request.GET.get("alias") or request.POST.get("alias") or "production"
        return alias if alias in STAGE_CHOICES else "production"

    def get(self, request, name: str):
        alias = self._alias(request)
        serving, exc = self._load(request, name, alias)
        if serving is None:
            return self.page(
                request,
                {
                    "name": name,
                    "alias": alias,
                    "aliases": STAGE_CHOICES,
                    "error": exc.message,
                },
                status=exc.status_code,
            )
        served = serving.model
        return self.page(
            request,
            {
                "name": name,
                "alias": alias,
                "aliases": STAGE_CHOICES,
                "served": served,
                "fields": form_fields(served),
            },
        )

    def post(self, request, name: str):
        alias = self._alias(request)
        serving, exc = self._load(request, name, alias)
        if serving is None:
            return self.page(
                request,
                {
                    "name": name,
                    "alias": alias,
                    "aliases": STAGE_CHOICES,
                    "error": exc.message,
                },
                status=exc.status_code,
            )
        served = serving.model
        row, errors = {}, []
        limit = settings.INFERENCE["MAX_STRING_LENGTH"]
        for field in served.inputs:
            raw = request.POST.get(field.name, "")
            if field.type == "boolean":
                raw = "true" if raw in ("on", "true", "1") else "false"
            try:
                row[field.name] = parse_csv_value(raw, field, limit)
            except ValueError as problem:
                errors.append(f"{field.name}: {problem}")
        result = error = None
        if errors:
            error = "; ".join(errors[:10])
        else:
            result, error = _serve_form(request, serving=serving, alias=alias, row=row)
        return self.page(
            request,
            {
                "name": name,
                "alias": alias,
                "aliases": STAGE_CHOICES,
                "served": served,
                "fields": form_fields(served, posted=request.POST),
                "result": result,
                "error": error,
            },
            status=200 if result else 400,
        )


class BatchListView(PredictorRequired, View):
    template_name = "inference/batch_list.html"
    max_body_bytes = staticmethod(upload_body_cap)  # core.limits

    def get(self, request):
        return render(
            request,
            self.template_name,
            {
                "jobs": selectors.batch_job_list_for_client(client=request.user)[:50],
                "models": registered_model_list(),
            },
        )

    def post(self, request):
        name = request.POST.get("model", "")
        upload = request.FILES.get("file")
        if not upload:
            messages.error(request, "Choose a CSV file to score.")
            return redirect("inference:batch-list")
        try:
            job = batch_job_create(
                model_name=name,
                client=request.user,
                alias=self._alias(request),
                upload=upload,
            )
        except ApplicationError as exc:
            messages.error(request, _error_text(exc))
            return redirect("inference:batch-list")
        messages.success(request, f"Batch job started for {upload.name}.")
        return redirect("inference:batch-detail", job_id=job.pk)

    @staticmethod
    def _alias(request) -> str:
        alias = request.POST.get("alias") or "production"
        return alias if alias in STAGE_CHOICES else "production"


class BatchDetailView(PredictorRequired, View):
    template_name = "inference/batch_detail.html"

    def get(self, request, job_id):
        job = selectors.batch_job_get_for_client(client=request.user, job_id=job_id)
        if job is None:
            raise Http404("unknown batch job")
        return render(
            request,
            self.template_name,
            {
                "job": job,
                "running": job.status in (BatchStatus.PENDING, BatchStatus.RUNNING),
                "percent": round(job.progress * 100),
            },
        )


class BatchResultsView(PredictorRequired, View):
    def get(self, request, job_id):
        job = selectors.batch_job_get_for_client(client=request.user, job_id=job_id)
        if job is None or job.status != BatchStatus.SUCCEEDED or not job.output_path:
            raise Http404("no results for this job")
        try:
            handle = results_open(job.output_path)
        except FileNotFoundError as exc:
            raise Http404("the results file of this job is missing") from exc
        return FileResponse(
            handle,
            as_attachment=True,
            filename=f"batch-{job.pk}-results.csv",
            content_type="text/csv",
        )


class TryDefaultView(PredictorRequired, View):
    """The try page of the default model (the nav link)."""

    def get(self, request):
        return redirect("inference:try-model", name=settings.MODELGATE["DEFAULT_MODEL"])
