"""Template context shared by every page."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def controller(request: HttpRequest) -> dict[str, object]:
    return {
        "controller_name": settings.DSAR["CONTROLLER_NAME"],
        "controller_contact": settings.DSAR["CONTROLLER_CONTACT"],
        "show_outbox": settings.DEBUG,
    }
