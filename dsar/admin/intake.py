"""Staff record a request that arrived by email, letter, telephone or in person.

The form keeps the day it reached us (the deadline runs from it), how it came, the request in
the person's words and a scan or copy of it; then either the person confirms by the usual email
link, or staff record what proof of identity they checked. ``transitions.record_request`` does
the rest, as for the web form.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.text import get_valid_filename
from django.utils.translation import gettext_lazy as _

from .. import transitions
from ..events import staff_actor
from ..models import Case, CaseType, ObjectionScope

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024


CHANNELS = [
    ("email", _("By email")),
    ("letter", _("By letter")),
    ("phone", _("By telephone")),
    ("in_person", _("In person")),
]
IDENTITY = [
    ("link", _("Send the person a link to confirm by email (as after the web form)")),
    ("checked", _("I checked the person's identity myself")),
]


class IntakeForm(forms.Form):
    channel = forms.ChoiceField(
        label=_("How did the request arrive?"), choices=CHANNELS, widget=forms.RadioSelect
    )
    received_on = forms.DateField(
        label=_("Received on"),
        help_text=_("The day the request reached us: the one-month deadline runs from it."),
        # A date input takes ISO dates only, whatever the page's language.
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    request_type = forms.ChoiceField(
        label=_("What does the person ask for?"),
        choices=CaseType.choices,
    )
    objection_scope = forms.ChoiceField(
        label=_("For an objection: to what?"),
        choices=[("", "—"), *ObjectionScope.choices],
        required=False,
    )
    request_text = forms.CharField(
        label=_("The request in the person's words"),
        help_text=_("Copy the email or letter, or write down what the person said on the phone."),
        widget=forms.Textarea(attrs={"rows": 6}),
        max_length=settings.DSAR["MAX_TEXT_LENGTH"],
    )
    attachment = forms.FileField(
        label=_("Scan or copy of the request (optional)"),
        required=False,
        help_text=_("A PDF or image of the letter, or the email saved as a file; at most 10 MB."),
    )
    name = forms.CharField(label=_("Full name"), max_length=200)
    email = forms.EmailField(
        label=_("Email address"),
        help_text=_("We send the confirmation link and the answer here."),
    )
    customer_number = forms.CharField(
        label=_("Customer number (optional)"), max_length=64, required=False
    )
    forum_username = forms.CharField(
        label=_("Forum user name (optional)"), max_length=64, required=False
    )
    language = forms.ChoiceField(
        label=_("Language of our emails to the person"), choices=settings.LANGUAGES
    )
    identity = forms.ChoiceField(
        label=_("Confirming who the person is"),
        choices=IDENTITY,
        initial="link",
        widget=forms.RadioSelect,
    )
    identity_proof = forms.CharField(
        label=_("What did you check?"),
        help_text=_("For example: ID card shown at the front desk; the number is not recorded."),
        required=False,
        max_length=200,
    )

    def clean_received_on(self) -> dt.date:
        received_on: dt.date = self.cleaned_data["received_on"]
        if received_on > timezone.localdate():
            raise forms.ValidationError(_("A request cannot arrive in the future."))
        return received_on

    def clean_attachment(self) -> UploadedFile[Any] | None:
        attachment: UploadedFile[Any] | None = self.cleaned_data.get("attachment")
        if attachment is not None and (attachment.size or 0) > MAX_ATTACHMENT_BYTES:
            raise forms.ValidationError(_("The file is larger than 10 MB."))
        return attachment

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("request_type") == CaseType.OBJECTION and not data.get("objection_scope"):
            self.add_error("objection_scope", _("Say what the person objects to."))
        if data.get("identity") == "checked" and not data.get("identity_proof", "").strip():
            self.add_error("identity_proof", _("Say what you checked."))
        return data

    def received_at(self) -> dt.datetime:
        """Today's requests keep the time they were recorded; older ones count from noon."""
        day: dt.date = self.cleaned_data["received_on"]
        if day == timezone.localdate():
            return timezone.now()
        return timezone.make_aware(dt.datetime.combine(day, dt.time(12)))


def _store(attachment: UploadedFile[Any]) -> str:
    name = get_valid_filename(attachment.name or "attachment")
    return default_storage.save(f"intake/{uuid.uuid4().hex}/{name}", attachment)


def intake_view(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("dsar.work_case"):
        return HttpResponse(status=403)
    form = IntakeForm(
        request.POST or None,
        request.FILES or None,
        initial={"received_on": timezone.localdate(), "language": settings.LANGUAGE_CODE},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        details = {}
        if data["request_type"] == CaseType.OBJECTION:
            details["objection_scope"] = data["objection_scope"]
        case = transitions.record_request(
            channel=data["channel"],
            received_at=form.received_at(),
            case_type=data["request_type"],
            email=data["email"],
            name=data["name"],
            language=data["language"],
            customer_number=data["customer_number"],
            forum_username=data["forum_username"],
            request_text=data["request_text"],
            details=details,
            attachment=_store(data["attachment"]) if data.get("attachment") else "",
            identity_checked=data["identity_proof"].strip()
            if data["identity"] == "checked"
            else "",
            actor=staff_actor(request.user.get_username()),
        )
        if data["identity"] == "checked":
            said = _("%(reference)s is recorded, and the identity you checked with it.")
        else:
            said = _("%(reference)s is recorded; the person was sent a link to confirm it.")
        messages.success(request, said % {"reference": case.reference})
        return HttpResponseRedirect(reverse("admin:dsar_case_change", args=[case.pk]))
    context = {
        **admin.site.each_context(request),
        "form": form,
        "title": _("Record a request received by email, letter or telephone"),
        "opts": Case._meta,
    }
    return TemplateResponse(request, "admin/dsar/case/intake.html", context)
