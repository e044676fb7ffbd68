"""Why a model cannot be served."""

from __future__ import annotations

from core.exceptions import ApplicationError, NotFoundError, ServiceUnavailableError


class ModelNotFound(NotFoundError):
    code = "model_not_found"


class ModelUnavailable(ServiceUnavailableError):
    code = "model_unavailable"


class NoSignature(ApplicationError):
    status_code = 409
    code = "model_has_no_signature"
