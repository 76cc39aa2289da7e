"""One JSON error shape for the API: ``{"error": code, "detail": message[, "fields": …]}``."""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.exceptions import (
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.db import DatabaseError
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler

from pipeline.core.errors import BadRequest, Forbidden, NotFound, PipelineError, Unshowable

log = logging.getLogger(__name__)


def _body(code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"error": code, "detail": detail, **{k: v for k, v in extra.items() if v}}


def _validation(exc: ValidationError) -> Response:
    fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
    first = next(iter(fields.items()))
    message = f"{first[0]}: {' '.join(str(m) for m in first[1])}"
    return Response(_body("bad_request", message, fields=fields), status.HTTP_400_BAD_REQUEST)


def suspicious_request(exc: SuspiciousOperation) -> tuple[dict[str, Any], int]:
    """A request Django refuses to read (too many fields, too large a body, …): body and status.

    Shared by the API's handler and ``handler400`` (which sees those Django raises
    before any view runs).
    """
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        detail = f"the request body is over the {limit:,} bytes this site reads"
        return _body("request_too_large", detail), status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    if isinstance(exc, (TooManyFieldsSent, TooManyFilesSent)):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        detail = f"too many query or form parameters; at most {limit:,} are read"
        return _body("bad_request", detail), status.HTTP_400_BAD_REQUEST
    return _body("bad_request", "the request is malformed"), status.HTTP_400_BAD_REQUEST


def _refusal(exc: Exception) -> Response | None:
    """The 4xx answer of a pipeline error a caller caused, or None for anything else."""
    if isinstance(exc, BadRequest):
        return Response(
            _body("bad_request", str(exc), field=exc.field), status.HTTP_400_BAD_REQUEST
        )
    if isinstance(exc, NotFound):
        return Response(_body("not_found", str(exc)), status.HTTP_404_NOT_FOUND)
    if isinstance(exc, Forbidden):
        return Response(_body("forbidden", str(exc)), status.HTTP_403_FORBIDDEN)
    if isinstance(exc, Unshowable):
        return Response(_body("unshowable", str(exc)), status.HTTP_422_UNPROCESSABLE_ENTITY)
    return None


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Map pipeline, AWS and DRF errors to JSON; unknown errors are logged and answered 500."""
    if isinstance(exc, SuspiciousOperation):
        log.warning("refused request on %s: %s", context["request"].path, exc)
        body, refused = suspicious_request(exc)
        return Response(body, refused)
    answer = _refusal(exc)
    if answer is not None:
        return answer
    if isinstance(exc, DatabaseError):
        # The key store (the admin's database) could not be read: the key cannot be checked.
        log.error("admin database failure on %s: %s", context["request"].path, exc, exc_info=exc)
        detail = "the key store is unavailable; try again shortly"
        return Response(_body("service_unavailable", detail), status.HTTP_503_SERVICE_UNAVAILABLE)
    if isinstance(exc, (ClientError, BotoCoreError)):
        log.error("AWS failure on %s: %s", context["request"].path, exc, exc_info=exc)
        detail = "the data store is unavailable; try again shortly"
        return Response(_body("service_unavailable", detail), status.HTTP_503_SERVICE_UNAVAILABLE)
    if isinstance(exc, ValidationError):
        return _validation(exc)
    response = exception_handler(exc, context)
    if response is not None:
        code = getattr(exc, "default_code", "error")
        response.data = _body(str(code), str(response.data.get("detail", response.data)))
        return response
    if isinstance(exc, PipelineError):
        log.error("pipeline error on %s: %s", context["request"].path, exc, exc_info=exc)
    else:
        log.exception("unexpected error on %s", context["request"].path, exc_info=exc)
    detail = "unexpected error; it has been logged"
    return Response(_body("server_error", detail), status.HTTP_500_INTERNAL_SERVER_ERROR)
