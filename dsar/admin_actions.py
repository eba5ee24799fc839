"""The workflow actions staff take on a case page; each calls one transition.

Each action's page says what will happen (``consequence``), and its button says what it does
(``submit``), so that nobody confirms a generic "Confirm".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.functional import Promise, lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import transitions
from .models import (
    FAILED_DELIVERY_STATES,
    ArtifactKind,
    Case,
    CaseStatus,
    CaseType,
    ProcessingActivity,
    RejectionReason,
    SuppressionEntry,
)


class NoteForm(forms.Form):
    pass


class CancelForm(forms.Form):
    reason = forms.CharField(
        label=_("How did the person withdraw the request?"),
        help_text=_("For example: by email of 3 March to the privacy address."),
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class ObjectionDecisionForm(forms.Form):
    upheld = forms.TypedChoiceField(
        label=_("Decision"),
        choices=[("yes", _("Upheld: stop the processing")), ("no", _("Not upheld"))],
        coerce=lambda value: value == "yes",
        widget=forms.RadioSelect,
    )
    activities = forms.MultipleChoiceField(
        label=_("The processing the objection concerns"),
        help_text=_(
            "Only processing based on a public task or legitimate interests can be objected to "
            "(Art. 21(1)). The systems of the activities you tick restrict the person's data; "
            "the others are left alone, and the confirmation says why. Tick none to stop every "
            "such activity."
        ),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    grounds = forms.CharField(label=_("Grounds of the decision"), widget=forms.Textarea)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        activities = ProcessingActivity.objects.filter(
            legal_basis__in=transitions.OBJECTIONABLE_BASES, systems__isnull=False
        ).distinct()
        self.fields["activities"].choices = [  # type: ignore[attr-defined]
            (
                activity.key,
                f"{activity.name} ({activity.get_legal_basis_display()}; "
                f"{', '.join(system.name for system in activity.systems.all())})",
            )
            for activity in activities.prefetch_related("systems").order_by("name")
        ]


class MarketingConsentForm(forms.Form):
    confirmed = forms.TypedChoiceField(
        label=_("Did the person subscribe again themselves?"),
        choices=[
            ("yes", _("Yes: keep the subscription, the objection ends")),
            ("no", _("No: end the subscription again")),
        ],
        coerce=lambda value: value == "yes",
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        label=_("How did you confirm it, or why not?"),
        help_text=_("For example: the person confirmed by email of 3 March."),
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class InformationRequestForm(forms.Form):
    what = forms.CharField(
        label=_("What do you need from the person? Ask only for what confirms the identity."),
        widget=forms.Textarea,
    )


class RejectForm(forms.Form):
    reason = forms.ChoiceField(
        label=_("Reason"),
        choices=[
            (value, label)
            for value, label in RejectionReason.choices
            if value != RejectionReason.OBJECTION_NOT_UPHELD
        ],
    )
    note = forms.CharField(
        label=_("Note for the person (required for unfounded, excessive or other)"),
        widget=forms.Textarea,
        required=False,
    )


def _team() -> Any:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(is_active=True, is_staff=True).order_by("username")


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(
        label=_("Assign to"), queryset=_team(), required=False, empty_label=_("Nobody (queue)")
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = _team()  # type: ignore[attr-defined]


class ExtendForm(forms.Form):
    months = forms.TypedChoiceField(
        label=_("Extend by"),
        choices=[(1, _("one month")), (2, _("two months"))],
        coerce=int,
    )
    reason = forms.CharField(label=_("Reason (the person will read it)"), widget=forms.Textarea)


class CertificateForm(forms.Form):
    checksum = forms.RegexField(
        label=_("Checksum printed on the certificate"),
        regex=r"^\s*[0-9a-fA-F]{64}\s*$",
        error_messages={"invalid": _("A checksum has 64 hexadecimal characters.")},
    )


def _verify_certificate(case: Case, data: dict[str, object], actor: str) -> str:
    from .deliverables.pdf import certificate_checksum_matches

    printed = str(data["checksum"]).strip().lower()
    artifact = case.artifacts.filter(kind=ArtifactKind.CERTIFICATE_PDF).first()
    issued = artifact.checksum if artifact else ""
    # With the key the checksum was issued with: a rotated key voids no certificate.
    if (
        artifact is not None
        and printed == issued
        and certificate_checksum_matches(case, printed, key_id=artifact.checksum_key_id)
    ):
        return str(_("Genuine: the checksum is the one we issued, and the case still says so."))
    if printed == issued:
        return str(
            _("Issued by us, but the case's record has changed since: look at its timeline.")
        )
    return str(_("NOT GENUINE: we never issued a certificate with this checksum for this case."))


def _information_consequence() -> str:
    """What asking the person does to the case and its deadline, by the controller's rule."""
    asked = str(
        _(
            "The person is emailed your question with a link to answer it. The case waits for "
            "the answer; systems already at work finish, but nothing is sent to the person "
            "until you approve the case again."
        )
    )
    if settings.DSAR["INFORMATION_PAUSES_DEADLINE"]:
        clock = _("The deadline waits too: it moves by the days until the answer.")
    else:
        clock = _("The deadline keeps running.")
    return f"{asked} {clock}"


def _has_new_marketing_opt_in(case: Case) -> bool:
    return SuppressionEntry.objects.filter(
        reference=case.reference, consent_found_at__isnull=False, lifted_at__isnull=True
    ).exists()


def _rebuild(case: Case, data: dict[str, object], actor: str) -> str:
    transitions.rebuild_files(case.pk, actor=actor)
    return str(_("The files are being built again; reload the case in a minute."))


class ReleaseForm(forms.Form):
    reviewed = forms.BooleanField(
        label=_(
            "I have read every record held for review, and withheld or redacted what would "
            "reveal other people's data."
        ),
    )


class RestrictionLiftForm(forms.Form):
    lift_on = forms.DateField(
        label=_("Lift the restriction on"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea)

    def clean_lift_on(self) -> dt.date:
        lift_on: dt.date = self.cleaned_data["lift_on"]
        if lift_on <= timezone.localdate():
            raise forms.ValidationError(_("The person must be told first: pick a later day."))
        return lift_on


StrOrPromise = str | Promise


WORK = "dsar.work_case"
DECIDE = "dsar.decide_case"


@dataclass(frozen=True)
class CaseAction:
    key: str
    label: StrOrPromise
    form: type[forms.Form]
    applies: Callable[[Case], bool]
    # Returns what to tell the member of staff, when there is more to say than "done".
    run: Callable[[Case, dict[str, object], str], object]
    permission: str = WORK
    consequence: StrOrPromise = ""
    submit: StrOrPromise = ""
    # A decision the case waits for: shown first, as the main button.
    primary: bool = False


def _undelivered_emails(case: Case) -> bool:
    return case.deliveries.filter(
        state__in=FAILED_DELIVERY_STATES, acknowledged_at__isnull=True
    ).exists()


def _resend_emails(case: Case, data: dict[str, object], actor: str) -> str:
    sent = transitions.resend_failed_emails(case.pk, actor=actor)
    return ngettext(
        "%(count)d email is being sent again.", "%(count)d emails are being sent again.", sent
    ) % {"count": sent}


def _acknowledge_emails(case: Case, data: dict[str, object], actor: str) -> None:
    failed = case.deliveries.filter(state__in=FAILED_DELIVERY_STATES, acknowledged_at__isnull=True)
    for delivery_id in failed.values_list("pk", flat=True):
        transitions.acknowledge_email_failure(delivery_id, actor=actor)


def _reviewing(case: Case) -> bool:
    return case.status == CaseStatus.IN_REVIEW


ACTIONS = [
    CaseAction(
        "approve",
        _("Approve and run in every system"),
        NoteForm,
        lambda case: (
            _reviewing(case)
            and (
                case.type != CaseType.OBJECTION
                or transitions.is_marketing_objection(case)
                or case.details.get("decision") == "upheld"  # resumed after the person's answer
            )
        ),
        lambda case, data, actor: transitions.approve_case(case.pk, actor=actor),
        permission=DECIDE,
        consequence=_(
            "The request goes to every enabled system now. Their progress shows on the case "
            "page, and the person is emailed when everything is done."
        ),
        submit=_("Approve and start"),
        primary=True,
    ),
    CaseAction(
        "decide-objection",
        _("Decide on the objection"),
        ObjectionDecisionForm,
        lambda case: _reviewing(case) and case.type == CaseType.OBJECTION,
        lambda case, data, actor: transitions.decide_objection(
            case.pk,
            upheld=bool(data["upheld"]),
            grounds=str(data["grounds"]),
            actor=actor,
            activities=list(data.get("activities") or []),  # type: ignore[call-overload]
        ),
        permission=DECIDE,
        consequence=_(
            "Upheld: the systems of the processing objected to restrict the person's data, and "
            "the person is told which were restricted and which not, and why. Not upheld: the "
            "case closes, and the person is told your grounds and their right to complain."
        ),
        submit=_("Record the decision"),
        primary=True,
    ),
    CaseAction(
        "release-answer",
        _("Release the answer"),
        ReleaseForm,
        lambda case: case.status == CaseStatus.THIRD_PARTY_REVIEW,
        lambda case, data, actor: transitions.release_answer(case.pk, actor=actor),
        consequence=_(
            "The person's files are built with your redactions, and the person is emailed the "
            "link to them. The records cannot be redacted any more after this."
        ),
        submit=_("Release the answer"),
        primary=True,
    ),
    CaseAction(
        "request-information",
        _("Ask the person for more information"),
        InformationRequestForm,
        lambda case: case.is_open and case.status != CaseStatus.AWAITING_VERIFICATION,
        lambda case, data, actor: transitions.request_information(
            case.pk, what=str(data["what"]), actor=actor
        ),
        consequence=lazy(_information_consequence, str)(),
        submit=_("Send the question"),
    ),
    CaseAction(
        "decide-marketing-consent",
        _("Decide on the new marketing opt-in"),
        MarketingConsentForm,
        _has_new_marketing_opt_in,
        lambda case, data, actor: transitions.decide_marketing_consent(
            case.pk, confirmed=bool(data["confirmed"]), note=str(data["note"]), actor=actor
        ),
        permission=DECIDE,
        consequence=_(
            "The person objected to direct marketing and has since subscribed again themselves "
            "(a double opt-in). Confirmed, the subscription stays and the objection ends. Not "
            "confirmed, the next check of the marketing systems ends the subscription again."
        ),
        submit=_("Record the decision"),
        primary=True,
    ),
    CaseAction(
        "reject",
        _("Reject"),
        RejectForm,
        lambda case: CaseStatus.REJECTED in transitions.ALLOWED[case.status],
        lambda case, data, actor: transitions.reject_case(
            case.pk, reason=str(data["reason"]), note=str(data["note"]), actor=actor
        ),
        permission=DECIDE,
        consequence=_(
            "The case closes. The person is emailed the reason and your note, with their right "
            "to complain to the supervisory authority. This cannot be undone."
        ),
        submit=_("Reject the request"),
    ),
    CaseAction(
        "announce-restriction-lift",
        _("Announce the lifting of the restriction"),
        RestrictionLiftForm,
        lambda case: case.type == CaseType.RESTRICTION and case.status == CaseStatus.COMPLETED,
        lambda case, data, actor: transitions.announce_restriction_lift(
            case.pk,
            lift_on=data["lift_on"],  # type: ignore[arg-type]
            reason=str(data["reason"]),
            actor=actor,
        ),
        permission=DECIDE,
        consequence=_(
            "The person is emailed the day and your reason, so that they can object before then."
        ),
        submit=_("Send the announcement"),
    ),
]
ACTIONS += [
    CaseAction(
        "assign",
        _("Assign"),
        AssignForm,
        lambda case: case.is_open,
        lambda case, data, actor: transitions.assign_case(
            case.pk,
            assignee_id=data["assignee"].pk if data["assignee"] else None,  # type: ignore[attr-defined]
            actor=actor,
        ),
        consequence=_("The case moves to the colleague's list. Nobody is emailed."),
        submit=_("Assign"),
    ),
    CaseAction(
        "extend",
        _("Extend the deadline"),
        ExtendForm,
        lambda case: case.is_open and not case.extension_months,
        lambda case, data, actor: transitions.extend_deadline(
            case.pk, months=int(str(data["months"])), reason=str(data["reason"]), actor=actor
        ),
        permission=DECIDE,
        consequence=_(
            "The deadline moves by the months you choose, counted from the first due date, and "
            "the person is emailed your reason. A deadline can be extended only once."
        ),
        submit=_("Extend the deadline"),
    ),
    CaseAction(
        "cancel",
        _("Cancel at the person's wish"),
        CancelForm,
        lambda case: case.is_open,
        lambda case, data, actor: transitions.cancel_case(
            case.pk, reason=str(data["reason"]), actor=actor
        ),
        consequence=_(
            "The case closes, and no system is asked to do anything more. The person is not "
            "emailed."
        ),
        submit=_("Cancel the request"),
    ),
    CaseAction(
        "rebuild-deliverables",
        _("Build the files again"),
        NoteForm,
        lambda case: case.status == CaseStatus.COMPLETED,
        _rebuild,
        consequence=_(
            "The person's files are built again from the recorded outcomes. Nobody is emailed."
        ),
        submit=_("Build the files again"),
    ),
    CaseAction(
        "verify-certificate",
        _("Verify a deletion certificate"),
        CertificateForm,
        lambda case: case.artifacts.filter(kind=ArtifactKind.CERTIFICATE_PDF).exists(),
        _verify_certificate,
        consequence=_(
            "Nothing changes: you learn whether the checksum is one we issued for this case."
        ),
        submit=_("Check the checksum"),
    ),
]
ACTIONS += [
    CaseAction(
        "resend-emails",
        _("Send the undelivered emails again"),
        NoteForm,
        _undelivered_emails,
        _resend_emails,
        consequence=_(
            "Each email that did not reach its recipient is sent again as a new email. A new "
            "link to confirm the request replaces the earlier ones, which stop working."
        ),
        submit=_("Send again"),
        primary=True,
    ),
    CaseAction(
        "acknowledge-emails",
        _("Mark the undelivered emails as dealt with"),
        NoteForm,
        _undelivered_emails,
        _acknowledge_emails,
        consequence=_(
            "Nothing is sent: you reached the person another way (a letter, a telephone call). "
            "The emails no longer flag the case."
        ),
        submit=_("Mark as dealt with"),
    ),
]
ACTIONS_BY_KEY = {action.key: action for action in ACTIONS}
