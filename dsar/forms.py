"""The public request form: which right, who is asking, and what they need to tell us."""

from __future__ import annotations

import unicodedata
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .models import CaseType, ObjectionScope

TYPE_HINTS = {
    CaseType.ACCESS: _("See what personal data we hold about you and how we use it."),
    CaseType.PORTABILITY: _(
        "Get a copy of the data you gave us, in a file you can take to another service."
    ),
    CaseType.RECTIFICATION: _("Correct data about you that is wrong or incomplete."),
    CaseType.ERASURE: _("Have your personal data deleted."),
    CaseType.RESTRICTION: _("Have us keep your data but stop using it for now."),
    CaseType.OBJECTION: _("Stop us using your data for advertising or another purpose."),
}

OBJECTION_HINTS = {
    ObjectionScope.DIRECT_MARKETING: _(
        "Newsletters and advertising. We stop at once, without asking for reasons."
    ),
    ObjectionScope.OTHER: _(
        "Any other use based on our legitimate interests. Tell us your reasons below."
    ),
}

TYPE_LABELS = {
    CaseType.ACCESS: _("See my data"),
    CaseType.PORTABILITY: _("Get a copy to take elsewhere"),
    CaseType.RECTIFICATION: _("Correct my data"),
    CaseType.ERASURE: _("Delete my data"),
    CaseType.RESTRICTION: _("Restrict the use of my data"),
    CaseType.OBJECTION: _("Object to the use of my data"),
}


def _refuse_control_characters(value: str, *, multiline: bool) -> None:
    allowed = {"\n", "\r", "\t"} if multiline else set()
    if any(unicodedata.category(ch) in ("Cc", "Cf") and ch not in allowed for ch in value):
        raise ValidationError(
            _("Please remove the invisible control characters from this field."),
            code="control_characters",
        )


class CleanCharField(forms.CharField):
    """A CharField that refuses control characters (a textarea may keep line breaks and tabs)."""

    def __init__(self, *, multiline: bool = False, **kwargs: Any) -> None:
        self.multiline = multiline
        super().__init__(**kwargs)

    def validate(self, value: Any) -> None:
        super().validate(value)
        if value:
            _refuse_control_characters(value, multiline=self.multiline)


def _text_area(max_length: int, **kwargs: Any) -> CleanCharField:
    return CleanCharField(
        multiline=True,
        max_length=max_length,
        widget=forms.Textarea(attrs={"rows": 4}),
        **kwargs,
    )


class AccessibleForm(forms.Form):
    """A form whose errors screen readers announce with their fields."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    @property
    def error_count(self) -> int:
        """How many error messages the form shows, for the error summary's heading."""
        return sum(len(errors) for errors in self.errors.values())

    def full_clean(self) -> None:
        """Tie each error to its field for assistive technology (aria-describedby)."""
        super().full_clean()
        for name in self.errors:
            if name not in self.fields:
                continue
            widget = self.fields[name].widget
            described = [f"id_{name}_error"]
            if self.fields[name].help_text:
                described.append(f"id_{name}_helptext")
            widget.attrs["aria-describedby"] = " ".join(described)
            widget.attrs["aria-invalid"] = "true"


class RequestForm(AccessibleForm):
    request_type = forms.ChoiceField(
        label=_("What would you like us to do?"),
        choices=[(value, TYPE_LABELS[value]) for value in CaseType],
        widget=forms.RadioSelect,
        error_messages={"required": _("Please choose what you would like us to do.")},
    )
    rectification_wrong = _text_area(
        settings.DSAR["MAX_TEXT_LENGTH"],
        label=_("Which data about you is wrong or incomplete?"),
        required=False,
    )
    rectification_correct = _text_area(
        settings.DSAR["MAX_TEXT_LENGTH"],
        label=_("What is correct?"),
        required=False,
    )
    objection_scope = forms.ChoiceField(
        label=_("What do you object to?"),
        choices=ObjectionScope.choices,
        widget=forms.RadioSelect,
        required=False,
    )
    objection_reasons = _text_area(
        settings.DSAR["MAX_TEXT_LENGTH"],
        label=_("Why do you object? Tell us about your particular situation."),
        required=False,
    )
    email = forms.EmailField(
        label=_("Email address"),
        max_length=254,
        help_text=_("We send a link to this address to confirm that it is yours."),
        error_messages={
            "required": _("Please enter your email address."),
            "invalid": _("Please enter an email address like name@example.com."),
        },
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    name = CleanCharField(
        label=_("Full name"),
        max_length=200,
        error_messages={"required": _("Please enter your name.")},
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    customer_number = CleanCharField(
        label=_("Customer number (optional)"),
        max_length=64,
        required=False,
        help_text=_("If you are a customer, this helps us find your records."),
    )
    forum_username = CleanCharField(
        label=_("Forum user name (optional)"),
        max_length=64,
        required=False,
        help_text=_("If you use our developer forum under a different email address."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if isinstance(field, forms.CharField) and field.max_length:
                field.error_messages["max_length"] = _(
                    "Please shorten this to at most %(limit_value)d characters "
                    "(it has %(show_value)d)."
                )

    def clean_email(self) -> str:
        email: str = self.cleaned_data["email"]
        _refuse_control_characters(email, multiline=False)
        local, _at, domain = email.strip().rpartition("@")
        return f"{local}@{domain.lower()}"

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        request_type = data.get("request_type")
        if request_type == CaseType.RECTIFICATION:
            # A field refused already (too long, say) is not also reported missing.
            if not data.get("rectification_wrong") and "rectification_wrong" not in self.errors:
                self.add_error(
                    "rectification_wrong", _("Please tell us which data is wrong or incomplete.")
                )
            if not data.get("rectification_correct") and "rectification_correct" not in self.errors:
                self.add_error("rectification_correct", _("Please tell us what is correct."))
        if request_type == CaseType.OBJECTION:
            scope = data.get("objection_scope")
            if not scope:
                self.add_error("objection_scope", _("Please choose what you object to."))
            elif scope == ObjectionScope.OTHER and not data.get("objection_reasons"):
                self.add_error(
                    "objection_reasons",
                    _("Please tell us why you object, so that we can weigh your reasons."),
                )
        return data

    def details(self) -> dict[str, str]:
        """The part of the request beyond identity, kept only for the type that needs it."""
        data = self.cleaned_data
        if data["request_type"] == CaseType.RECTIFICATION:
            return {
                "rectification_wrong": data["rectification_wrong"],
                "rectification_correct": data["rectification_correct"],
            }
        if data["request_type"] == CaseType.OBJECTION:
            details = {"objection_scope": data["objection_scope"]}
            if data.get("objection_reasons"):
                details["objection_reasons"] = data["objection_reasons"]
            return details
        return {}

    def type_options(self) -> list[dict[str, Any]]:
        """The request types with their plain-language hints, for the template."""
        return [
            {"widget": widget, "hint": TYPE_HINTS[CaseType(widget.data["value"])]}
            for widget in self["request_type"]
        ]

    def objection_options(self) -> list[dict[str, Any]]:
        return [
            {"widget": widget, "hint": OBJECTION_HINTS[ObjectionScope(widget.data["value"])]}
            for widget in self["objection_scope"]
        ]


class InformationForm(AccessibleForm):
    """The person's answer when staff asked for more information (Art. 12(6))."""

    answer = _text_area(
        settings.DSAR["MAX_TEXT_LENGTH"],
        label=_("Your answer"),
        error_messages={"required": _("Please write your answer.")},
    )


class CodeForm(AccessibleForm):
    """The one-time code that opens a download link."""

    code = forms.RegexField(
        regex=r"^\s*\d{6}\s*$",
        label=_("Code from the email"),
        max_length=12,
        error_messages={
            "required": _("Please enter the code from the email."),
            "invalid": _("The code has six digits."),
            "wrong": _("This code is not right, or no longer valid. Ask for a new one."),
        },
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )
