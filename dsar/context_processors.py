"""Template context shared by every page."""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from .models import Controller


def controller(request: HttpRequest) -> dict[str, object]:
    """The controller's name and contact, read from its record only when a page shows them
    (one query at most per page)."""

    @cache
    def name_and_contact() -> tuple[str, str]:
        try:
            record = Controller.current()
        except DatabaseError:  # an error page while the database is down still names someone
            return settings.DSAR["CONTROLLER_NAME"], settings.DSAR["CONTROLLER_CONTACT"]
        return record.name, record.contact_email

    return {
        "controller_name": SimpleLazyObject(lambda: name_and_contact()[0]),
        "controller_contact": SimpleLazyObject(lambda: name_and_contact()[1]),
        "show_outbox": settings.DEBUG,
    }
