"""The emails a subject receives, rendered in their language and sent through anymail's backend."""

from __future__ import annotations

from typing import Any

from anymail.message import AnymailMessage
from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from .models import Case
from .tokens import status_key


def absolute(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def _send(case: Case, *, template: str, subject: str, tag: str, context: dict[str, Any]) -> None:
    context = {"case": case, "controller": settings.DSAR["CONTROLLER_NAME"], **context}
    message = AnymailMessage(
        subject=subject,
        body=render_to_string(f"emails/{template}.txt", context),
        to=[case.email],
        tags=[tag],
        metadata={"case": case.reference},
    )
    message.attach_alternative(render_to_string(f"emails/{template}.html", context), "text/html")
    message.send()


def send_verification_email(case: Case, *, token: str) -> None:
    with translation.override(case.language):
        _send(
            case,
            template="verification",
            subject=gettext("Please confirm your request %(reference)s")
            % {"reference": case.reference},
            tag="verification",
            context={
                "link": absolute(reverse("dsar:verify", args=[token])),
                "ttl_hours": settings.DSAR["VERIFICATION_TTL_HOURS"],
            },
        )


def send_confirmation_email(case: Case) -> None:
    with translation.override(case.language):
        _send(
            case,
            template="confirmed",
            subject=gettext("Your request %(reference)s is confirmed")
            % {"reference": case.reference},
            tag="confirmed",
            context={"link": absolute(reverse("dsar:status", args=[status_key(case)]))},
        )
