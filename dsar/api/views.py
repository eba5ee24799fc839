"""The /api/v1/ routes: thin views over the same transitions the admin and public pages use."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from django.conf import settings
from django.db import transaction
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import transitions
from ..admin_actions import ACTIONS_BY_KEY
from ..events import record_event
from ..models import ApiScope, ApiToken, Artifact, Case
from .auth import HasRole, HasScope
from .errors import ERRORS, Conflict
from .serializers import ActionInput, CaseDetailOutput, CaseFilter, CaseInput, CaseOutput


def api_token(request: Request) -> ApiToken:
    """The key the request was authenticated with (every API route requires one)."""
    token = request.auth
    if not isinstance(token, ApiToken):
        raise exceptions.NotAuthenticated()
    return token


def api_actor(request: Request) -> str:
    return f"api:{api_token(request).name}"


class ScopedView(APIView):
    """A route that needs a scope of the key (``required_scopes``) and permissions of the
    key's account (``required_perms``), both by HTTP method."""

    permission_classes: ClassVar[list[Any]] = [HasScope, HasRole]  # type: ignore[misc]
    required_scopes: ClassVar[dict[str, str]] = {}
    required_perms: ClassVar[dict[str, tuple[str, ...]]] = {}


VIEW_CASE = ("dsar.view_case",)


class CaseList(ScopedView, generics.GenericAPIView[Case]):
    required_scopes: ClassVar[dict[str, str]] = {"GET": ApiScope.READ, "POST": ApiScope.CREATE}
    required_perms: ClassVar[dict[str, tuple[str, ...]]] = {
        "GET": VIEW_CASE,
        "POST": ("dsar.add_case",),
    }
    serializer_class = CaseOutput

    def get_queryset(self) -> Any:
        filters = CaseFilter(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        cases = Case.objects.order_by("due_date", "pk")
        for field, value in filters.validated_data.items():
            lookup = "email__iexact" if field == "email" else field
            cases = cases.filter(**{lookup: value})
        return cases

    @extend_schema(
        operation_id="cases_list",
        parameters=[CaseFilter],
        responses={200: CaseOutput(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(CaseOutput(page, many=True).data)

    @extend_schema(
        operation_id="cases_create", request=CaseInput, responses={201: CaseOutput, **ERRORS}
    )
    def post(self, request: Request) -> Response:
        """Create a case on a person's behalf. The person still confirms by email, unless this
        key is trusted to assert a verified identity, its account is staff whose role may do so
        (dsar.assert_identity), and it says so (identity_verified=true)."""
        data = CaseInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        token = api_token(request)
        if values["identity_verified"] and not (
            token.trusted_identity
            and request.user.is_staff
            and request.user.has_perm("dsar.assert_identity")
        ):
            raise exceptions.PermissionDenied(
                "This API key may not assert verified identities (it must be marked trusted, "
                "and its account be staff with dsar.assert_identity); leave identity_verified "
                "out and the person will confirm by email."
            )
        with transaction.atomic():
            case = transitions.submit_case(
                case_type=values["type"],
                email=values["email"],
                name=values["name"],
                language=values["language"],
                customer_number=values["customer_number"],
                forum_username=values["forum_username"],
                details=values["details"],
            )
            if values["identity_verified"]:
                by = f"asserted by API key {token.name} ({token.prefix}…)"
                case = transitions.assert_identity(case.pk, by=by[:80], actor=api_actor(request))
        return Response(CaseOutput(case).data, status=status.HTTP_201_CREATED)


class CaseDetail(ScopedView):
    required_scopes: ClassVar[dict[str, str]] = {"GET": ApiScope.READ}
    required_perms: ClassVar[dict[str, tuple[str, ...]]] = {"GET": VIEW_CASE}

    @extend_schema(operation_id="cases_retrieve", responses={200: CaseDetailOutput, **ERRORS})
    def get(self, request: Request, reference: str) -> Response:
        case = get_object_or_404(
            Case.objects.prefetch_related("runs__system", "artifacts"), reference=reference
        )
        self.check_object_permissions(request, case)
        return Response(CaseDetailOutput(case).data)


class CaseAction(ScopedView):
    required_scopes: ClassVar[dict[str, str]] = {"POST": ApiScope.ACT}
    required_perms: ClassVar[dict[str, tuple[str, ...]]] = {"POST": VIEW_CASE}

    @extend_schema(
        operation_id="cases_act",
        request=ActionInput,
        responses={200: CaseDetailOutput, **ERRORS},
        description="Take a workflow action: " + ", ".join(sorted(ACTIONS_BY_KEY)) + ".",
    )
    def post(self, request: Request, reference: str, action: str) -> Response:
        case = get_object_or_404(Case, reference=reference)
        self.check_object_permissions(request, case)
        chosen = ACTIONS_BY_KEY.get(action)
        if chosen is None:
            raise exceptions.NotFound(
                f"No action '{action}'; actions are {', '.join(sorted(ACTIONS_BY_KEY))}."
            )
        if not request.user.has_perm(chosen.permission):
            raise exceptions.PermissionDenied(
                f"The account of this API key lacks the permission to '{action}' "
                f"({chosen.permission}); give the account a role that has it."
            )
        if not chosen.applies(case):
            raise Conflict(f"'{action}' does not apply to a case that is {case.status}.")
        payload = ActionInput(data=request.data)
        payload.is_valid(raise_exception=True)
        form = chosen.form(data=payload.validated_data["values"])
        if not form.is_valid():
            raise exceptions.ValidationError(
                {field: [str(e) for e in errors] for field, errors in form.errors.items()}
            )
        try:
            chosen.run(case, form.cleaned_data, api_actor(request))
        except transitions.ReviewIncomplete as error:
            raise Conflict(str(error)) from error
        except transitions.TransitionNotAllowed as error:
            raise Conflict(str(error)) from error
        case.refresh_from_db()
        return Response(CaseDetailOutput(case).data)


class CaseFile(ScopedView):
    required_scopes: ClassVar[dict[str, str]] = {"GET": ApiScope.READ}
    required_perms: ClassVar[dict[str, tuple[str, ...]]] = {
        "GET": (*VIEW_CASE, "dsar.view_artifact")
    }

    @extend_schema(
        operation_id="cases_file",
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, **ERRORS},
    )
    def get(self, request: Request, reference: str, kind: str) -> FileResponse:
        """Download a deliverable, with the same permission check and log as staff."""
        artifact = get_object_or_404(Artifact, case__reference=reference, kind=kind)
        self.check_object_permissions(request, artifact)
        record_event(
            artifact.case_id,
            actor=api_actor(request),
            action="downloaded_by_staff",
            data={"kind": kind},
        )
        return FileResponse(
            (Path(settings.MEDIA_ROOT) / artifact.path).open("rb"),
            as_attachment=True,
            filename=artifact.filename,
            content_type=artifact.content_type,
        )
