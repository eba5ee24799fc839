"""What goes in and comes out of the /api/v1/ routes."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse
from rest_framework import serializers

from ..forms import RequestForm
from ..models import Artifact, Case, CaseStatus, CaseType, ObjectionScope, SystemRun


class CaseInput(serializers.Serializer[Any]):
    """A request made on a person's behalf; the same rules as the public form."""

    type = serializers.ChoiceField(choices=CaseType.choices)
    email = serializers.EmailField(max_length=254)
    name = serializers.CharField(max_length=200)
    language = serializers.ChoiceField(
        choices=[code for code, _label in settings.LANGUAGES], default="en"
    )
    customer_number = serializers.CharField(max_length=64, required=False, default="")
    forum_username = serializers.CharField(max_length=64, required=False, default="")
    rectification_wrong = serializers.CharField(required=False, default="")
    rectification_correct = serializers.CharField(required=False, default="")
    objection_scope = serializers.ChoiceField(
        choices=ObjectionScope.choices, required=False, allow_blank=True, default=""
    )
    objection_reasons = serializers.CharField(required=False, default="")
    identity_verified = serializers.BooleanField(
        default=False,
        help_text="The integration verified the person itself (only for trusted keys).",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # The public form holds the rules (control characters, lengths, what each type needs).
        form = RequestForm(
            data={
                "request_type": attrs["type"],
                "email": attrs["email"],
                "name": attrs["name"],
                "customer_number": attrs["customer_number"],
                "forum_username": attrs["forum_username"],
                "rectification_wrong": attrs["rectification_wrong"],
                "rectification_correct": attrs["rectification_correct"],
                "objection_scope": attrs["objection_scope"],
                "objection_reasons": attrs["objection_reasons"],
            }
        )
        if not form.is_valid():
            names = {"request_type": "type"}
            raise serializers.ValidationError(
                {
                    names.get(field, field): [str(e) for e in errors]
                    for field, errors in form.errors.items()
                }
            )
        attrs["details"] = form.details()
        attrs["email"] = form.cleaned_data["email"]
        return attrs


class CaseFilter(serializers.Serializer[Any]):
    """The list's filters; unknown or malformed values are a 400, not a 500."""

    status = serializers.ChoiceField(choices=CaseStatus.choices, required=False)
    type = serializers.ChoiceField(choices=CaseType.choices, required=False)
    email = serializers.CharField(max_length=254, required=False)
    reference = serializers.CharField(max_length=32, required=False)


class RunOutput(serializers.ModelSerializer[SystemRun]):
    system = serializers.CharField(source="system.key")
    system_name = serializers.CharField(source="system.name")

    class Meta:
        model = SystemRun
        fields = [
            "system",
            "system_name",
            "action",
            "status",
            "attempts",
            "last_error",
            "started_at",
            "finished_at",
        ]


class ArtifactOutput(serializers.ModelSerializer[Artifact]):
    url = serializers.SerializerMethodField()

    class Meta:
        model = Artifact
        fields = ["kind", "filename", "size", "sha256", "expires_at", "url"]

    def get_url(self, artifact: Artifact) -> str:
        return reverse("api-case-file", args=[artifact.case.reference, artifact.kind])


class CaseOutput(serializers.ModelSerializer[Case]):
    days_left = serializers.SerializerMethodField()

    class Meta:
        model = Case
        fields = [
            "reference",
            "type",
            "status",
            "email",
            "name",
            "language",
            "received_at",
            "verified_at",
            "due_date",
            "days_left",
            "closed_at",
            "verification_method",
        ]

    def get_days_left(self, case: Case) -> int:
        return case.days_left()


class CaseDetailOutput(CaseOutput):
    systems = RunOutput(source="runs", many=True, read_only=True)
    deliverables = ArtifactOutput(source="artifacts", many=True, read_only=True)

    class Meta(CaseOutput.Meta):
        fields = [*CaseOutput.Meta.fields, "details", "systems", "deliverables"]


class ActionInput(serializers.Serializer[Any]):
    """The values of the action's form, e.g. {"values": {"reason": "excessive", "note": "…"}}."""

    values = serializers.DictField(required=False, default=dict)
