"""The OpenDSR 2.0 routes (and their older OpenGDPR names): discovery, creating a request,
reading its status and cancelling it while pending.

A request made here becomes an ordinary case through ``transitions.submit_case``: the person
still confirms their identity by email before anything is processed.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from .. import transitions
from ..callbacks import (
    API_VERSION,
    expected_completion_time,
    opendsr_status,
    status_payload,
    validate_callback_url,
)
from ..models import ApiScope, Case, CaseType
from .auth import ApiTokenAuthentication, HasRole, HasScope, TokenRateThrottle
from .errors import ERRORS, Conflict
from .views import VIEW_CASE, ScopedView, api_actor

SUPPORTED_TYPES = [CaseType.ACCESS.value, CaseType.PORTABILITY.value, CaseType.ERASURE.value]
REQUEST_STATUSES = ["pending", "in_progress", "completed", "cancelled"]
TAGS = ["OpenDSR"]


# --- Serializers ----------------------------------------------------------------------------


class OpenDsrIdentityInput(serializers.Serializer[Any]):
    identity_type = serializers.CharField(max_length=64)
    identity_value = serializers.CharField(max_length=320)
    identity_format = serializers.ChoiceField(
        choices=["raw", "sha1", "md5", "sha256"], default="raw"
    )


class OpenDsrRequestInput(serializers.Serializer[Any]):
    regulation = serializers.ChoiceField(
        choices=["gdpr"],
        error_messages={"invalid_choice": 'This controller handles GDPR requests only: "gdpr".'},
    )
    subject_request_id = serializers.UUIDField(help_text="A UUID version 4 chosen by the client.")
    subject_request_type = serializers.ChoiceField(choices=SUPPORTED_TYPES)
    subject_identities = OpenDsrIdentityInput(many=True)
    submitted_time = serializers.DateTimeField(help_text="RFC 3339")
    api_version = serializers.ChoiceField(choices=["2.0", "1.0"])
    status_callback_urls = serializers.ListField(
        child=serializers.CharField(max_length=2000), max_length=10, required=False, default=list
    )
    extensions = serializers.DictField(
        required=False,
        default=dict,
        help_text='Optional; "name" (the person\'s name) and "language" ("en" or "de") are read.',
    )

    def validate_subject_request_id(self, value: uuid.UUID) -> uuid.UUID:
        if value.version != 4:
            raise serializers.ValidationError("subject_request_id must be a UUID version 4.")
        return value

    def validate_subject_identities(self, value: list[dict[str, str]]) -> list[dict[str, str]]:
        for identity in value:
            if identity["identity_type"] == "email" and identity["identity_format"] == "raw":
                try:
                    validate_email(identity["identity_value"])
                    if len(identity["identity_value"]) > 254:  # the longest address SMTP carries
                        raise DjangoValidationError("too long")
                except DjangoValidationError as error:
                    raise serializers.ValidationError(
                        "The raw email identity is not a valid email address."
                    ) from error
                return value
        raise serializers.ValidationError(
            'Include an identity with identity_type "email" and identity_format "raw": the '
            "person confirms the request at that address, so a hashed (sha1, md5, sha256) or "
            "other identity alone cannot be acted on."
        )

    def validate_status_callback_urls(self, value: list[str]) -> list[str]:
        errors = {}
        for index, url in enumerate(value):
            try:
                validate_callback_url(url)
            except ValueError as error:
                errors[str(index)] = [f"status_callback_urls[{index}]: {error}"]
        if errors:
            raise serializers.ValidationError(errors)
        return value

    def validate_extensions(self, value: dict[str, Any]) -> dict[str, Any]:
        name = value.get("name", "")
        if not isinstance(name, str) or len(name) > 200:
            raise serializers.ValidationError("extensions.name must be text of at most 200 chars.")
        if not isinstance(value.get("language", ""), str):
            raise serializers.ValidationError('extensions.language must be text, e.g. "de".')
        return value


class OpenDsrRequestCreatedOutput(serializers.Serializer[Any]):
    subject_request_id = serializers.UUIDField()
    received_time = serializers.DateTimeField()
    expected_completion_time = serializers.DateTimeField()
    controller_id = serializers.CharField()


class OpenDsrStatusOutput(serializers.Serializer[Any]):
    controller_id = serializers.CharField()
    expected_completion_time = serializers.DateTimeField()
    subject_request_id = serializers.UUIDField()
    request_status = serializers.ChoiceField(choices=REQUEST_STATUSES)
    api_version = serializers.CharField()
    results_url = serializers.URLField(allow_null=True)
    results_count = serializers.IntegerField()


DiscoveryOutput = inline_serializer(
    "OpenDsrDiscovery",
    {
        "api_version": serializers.CharField(),
        "supported_identities": inline_serializer(
            "OpenDsrIdentityKind",
            {"identity_type": serializers.CharField(), "identity_format": serializers.CharField()},
            many=True,
        ),
        "supported_subject_request_types": serializers.ListField(child=serializers.CharField()),
        "controller_id": serializers.CharField(),
    },
)


# --- Views ----------------------------------------------------------------------------------


class OpenDsrView(ScopedView):
    authentication_classes: ClassVar[list[Any]] = [ApiTokenAuthentication]  # type: ignore[misc]
    permission_classes: ClassVar[list[Any]] = [HasScope, HasRole]  # type: ignore[misc]
    throttle_classes: ClassVar[list[Any]] = [TokenRateThrottle]  # type: ignore[misc]
    parser_classes: ClassVar[list[Any]] = [JSONParser]  # type: ignore[misc]


def _case(request_id: str, *, lock: bool = False) -> Case:
    """The case of an OpenDSR request id. The route takes any text, so that an id that is no
    UUID is answered like an unknown one, in JSON."""
    try:
        external_id = uuid.UUID(request_id)
    except ValueError:
        external_id = None
    cases = Case.objects.select_for_update() if lock else Case.objects.all()
    case = cases.filter(external_id=external_id).first() if external_id else None
    if case is None:
        raise exceptions.NotFound(f"No request with subject_request_id {request_id!r}.")
    return case


REQUEST_ID = OpenApiParameter(
    "request_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="subject_request_id"
)


class Discovery(OpenDsrView):
    required_scopes: ClassVar[dict[str, str]] = {"GET": ApiScope.READ}

    @extend_schema(
        operation_id="opendsr_discovery", tags=TAGS, responses={200: DiscoveryOutput, **ERRORS}
    )
    def get(self, request: Request) -> Response:
        """What this controller supports: identities, request types and its id."""
        return Response(
            {
                "api_version": API_VERSION,
                "supported_identities": [{"identity_type": "email", "identity_format": "raw"}],
                "supported_subject_request_types": SUPPORTED_TYPES,
                "controller_id": settings.DSAR["CONTROLLER_ID"],
            }
        )


class Requests(OpenDsrView):
    required_scopes: ClassVar[dict[str, str]] = {"POST": ApiScope.CREATE}
    required_perms: ClassVar[dict[str, tuple[str, ...]]] = {"POST": ("dsar.add_case",)}

    @extend_schema(
        operation_id="opendsr_requests_create",
        tags=TAGS,
        request=OpenDsrRequestInput,
        responses={201: OpenDsrRequestCreatedOutput, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        """Make a request on a person's behalf; the person confirms it by email first."""
        data = OpenDsrRequestInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        request_id = values["subject_request_id"]
        duplicate = Conflict(
            f"A request with subject_request_id {request_id} exists already; "
            "read its status with GET, or send a new id."
        )
        if Case.objects.filter(external_id=request_id).exists():
            raise duplicate
        email = next(
            identity["identity_value"]
            for identity in values["subject_identities"]
            if identity["identity_type"] == "email" and identity["identity_format"] == "raw"
        )
        extensions = values["extensions"]
        language = str(extensions.get("language", "")).lower()
        try:
            with transaction.atomic():
                case = transitions.submit_case(
                    case_type=values["subject_request_type"],
                    email=email,
                    name=extensions.get("name", "") or "(via OpenDSR)",
                    language="de" if language.startswith("de") else "en",
                )
                Case.objects.filter(pk=case.pk).update(
                    external_id=request_id, callback_urls=values["status_callback_urls"]
                )
        except IntegrityError as error:  # the same id sent twice at once
            raise duplicate from error
        case.external_id = request_id
        return Response(
            {
                "subject_request_id": str(request_id),
                "received_time": case.received_at.isoformat(),
                "expected_completion_time": expected_completion_time(case),
                "controller_id": settings.DSAR["CONTROLLER_ID"],
            },
            status=status.HTTP_201_CREATED,
        )


class RequestStatus(OpenDsrView):
    required_scopes: ClassVar[dict[str, str]] = {"GET": ApiScope.READ, "DELETE": ApiScope.ACT}
    required_perms: ClassVar[dict[str, tuple[str, ...]]] = {
        "GET": VIEW_CASE,
        "DELETE": (*VIEW_CASE, "dsar.work_case"),
    }

    @extend_schema(
        operation_id="opendsr_requests_retrieve",
        tags=TAGS,
        parameters=[REQUEST_ID],
        responses={200: OpenDsrStatusOutput, **ERRORS},
    )
    def get(self, request: Request, request_id: str) -> Response:
        """The request's status in OpenDSR's terms."""
        case = _case(request_id)
        self.check_object_permissions(request, case)
        return Response(status_payload(case))

    @extend_schema(
        operation_id="opendsr_requests_cancel",
        tags=TAGS,
        parameters=[REQUEST_ID],
        responses={202: OpenDsrStatusOutput, **ERRORS},
        description="Cancel a request while it is pending; later it can no longer be cancelled.",
    )
    def delete(self, request: Request, request_id: str) -> Response:
        # As for a cancel through /api/v1/: the key's account must be allowed to work cases
        # (required_perms).
        with transaction.atomic():
            # Locked, so that the case cannot start processing between the check and the change.
            case = _case(request_id, lock=True)
            self.check_object_permissions(request, case)
            current = opendsr_status(case)
            if current != "pending":
                raise Conflict(f"Only a pending request can be cancelled; this one is {current}.")
            case = transitions.cancel_case(case.pk, actor=api_actor(request))
        return Response(status_payload(case), status=status.HTTP_202_ACCEPTED)


# The older OpenGDPR names: the same views, documented once under their OpenDSR names.
@extend_schema_view(post=extend_schema(exclude=True))
class OpenGdprRequests(Requests):
    pass


@extend_schema_view(get=extend_schema(exclude=True), delete=extend_schema(exclude=True))
class OpenGdprRequestStatus(RequestStatus):
    pass


urlpatterns = [
    path("discovery/", Discovery.as_view(), name="opendsr-discovery"),
    path("requests/", Requests.as_view(), name="opendsr-requests"),
    path("requests/<str:request_id>/", RequestStatus.as_view(), name="opendsr-request"),
    path("opengdpr_requests/", OpenGdprRequests.as_view(), name="opendsr-opengdpr-requests"),
    path(
        "opengdpr_requests/<str:request_id>/",
        OpenGdprRequestStatus.as_view(),
        name="opendsr-opengdpr-request",
    ),
]
