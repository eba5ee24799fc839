"""Every API error as JSON: a stable code, a message a person can act on, and the fields."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..audit import record_refusal
from ..models import ApiToken, Case


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "This request conflicts with the state of the case."


def _messages(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {key: _messages(value) for key, value in detail.items()}
    if isinstance(detail, list):
        flat = [_messages(item) for item in detail]
        return flat if any(isinstance(i, dict | list) for i in flat) else " ".join(flat)
    return str(detail)


def _code(exc: exceptions.APIException) -> str:
    codes = exc.get_codes()
    if isinstance(codes, str):
        return codes
    return "invalid" if isinstance(exc, exceptions.ValidationError) else exc.default_code


REFUSALS = (
    exceptions.NotAuthenticated,
    exceptions.AuthenticationFailed,
    exceptions.PermissionDenied,
)


def _case_id(kwargs: dict[str, Any]) -> int | None:
    """The case a route names, by reference (/api/v1/) or OpenDSR request id."""
    if "reference" in kwargs:
        return (
            Case.objects.filter(reference=kwargs["reference"]).values_list("pk", flat=True).first()
        )
    try:
        external_id = uuid.UUID(str(kwargs.get("request_id", "")))
    except ValueError:
        return None
    return Case.objects.filter(external_id=external_id).values_list("pk", flat=True).first()


def _record(exc: exceptions.APIException, context: dict[str, Any]) -> None:
    """A refused API call: an event on the case for a key refused a permission, a security
    log line otherwise (no key is ever written, only the token's id)."""
    request = context["request"]
    token = getattr(request, "auth", None)
    match = getattr(request, "resolver_match", None)
    data: dict[str, Any] = {
        "route": match.url_name if match else "",
        "method": request.method,
        "status": exc.status_code,
    }
    if isinstance(token, ApiToken):
        data["token"] = token.pk
    known = isinstance(exc, exceptions.PermissionDenied) and isinstance(token, ApiToken)
    case_id = _case_id(context.get("kwargs") or {}) if known else None
    record_refusal(
        action="api_refused",
        reason=str(_code(exc)),
        case_id=case_id,
        actor=f"api:{token.name}" if isinstance(token, ApiToken) else "api:unauthenticated",
        data={**data, "detail": _messages(exc.detail)} if case_id else data,
    )


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    # Django's own 404 and 403 get the same JSON shape as DRF's.
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "There is nothing at this address.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, REFUSALS):
        _record(exc, context)
    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    body: dict[str, Any] = {"code": _code(exc)}
    if isinstance(exc, exceptions.ValidationError):
        fields = _messages(exc.detail)
        body["message"] = "Some fields are not valid: " + ", ".join(
            fields if isinstance(fields, dict) else ["request"]
        )
        body["fields"] = fields if isinstance(fields, dict) else {"non_field_errors": fields}
    else:
        body["message"] = _messages(exc.detail)
    response.data = {"error": body}
    return response


class ErrorDetail(serializers.Serializer[Any]):
    code = serializers.CharField(help_text="Stable, for programs: invalid, not_found, conflict…")
    message = serializers.CharField(help_text="For people: what went wrong and what to do.")
    # The metaclass takes declared fields out of the class, so this shadows nothing at run time.
    fields = serializers.DictField(  # type: ignore[assignment]
        required=False, help_text="For validation errors: the message per field."
    )


class ErrorOutput(serializers.Serializer[Any]):
    error = ErrorDetail()


# The error replies every route may give, for the OpenAPI schema.
ERRORS = {
    400: ErrorOutput,
    401: ErrorOutput,
    403: ErrorOutput,
    404: ErrorOutput,
    409: ErrorOutput,
    429: ErrorOutput,
}


@csrf_exempt  # answers nothing but 404, so a POST to it needs no token either
def not_found(request: Any, path: str = "") -> JsonResponse:
    """Any API address that names no route or resource answers in JSON too."""
    return JsonResponse(
        {"error": {"code": "not_found", "message": "There is nothing at this address."}},
        status=404,
    )
