"""The privacy notice of the request service itself (Art. 13 GDPR), drawn from the register entry
for handling data-subject requests and the Controller record, in English or German."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation

from ..models import Controller, ProcessingActivity
from ..register import REQUEST_HANDLING
from ..rights import RIGHTS, art15_information


def privacy_notice(request: HttpRequest) -> HttpResponse:
    """``?lang=de`` lets a link in an email open the notice in the person's language."""
    language = request.GET.get("lang", "")
    if language not in dict(settings.LANGUAGES):
        language = translation.get_language() or settings.LANGUAGE_CODE
    controller = Controller.current()
    activity = (
        ProcessingActivity.objects.filter(key=REQUEST_HANDLING)
        .prefetch_related("recipients", "retention_rules")
        .first()
    )
    contact = controller.contact_email if controller else settings.DSAR["CONTROLLER_CONTACT"]
    with translation.override(language):
        entry = (
            art15_information(activity, language=language, contact=contact) if activity else None
        )
        return render(
            request,
            "dsar/privacy.html",
            {
                "controller": controller,
                "entry": entry,
                "provision": activity.localized("provision_requirement", language)
                if activity
                else "",
                "rights": [str(right) for right in RIGHTS],
                "contact": contact,
                "language": language,
            },
            status=200 if entry else 503,
        )
