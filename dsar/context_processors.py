"""Template context shared by every page."""

from __future__ import annotations

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest

from .models import Controller


def controller(request: HttpRequest) -> dict[str, object]:
    try:
        controller = Controller.current()
        name, contact = controller.name, controller.contact_email
    except DatabaseError:  # an error page while the database is down still names someone
        name, contact = settings.DSAR["CONTROLLER_NAME"], settings.DSAR["CONTROLLER_CONTACT"]
    return {
        "controller_name": name,
        "controller_contact": contact,
        "show_outbox": settings.DEBUG,
    }
