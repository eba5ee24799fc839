"""The subject's pages: the request form, verification, and the case status page.

The person reads their own words for a case's state (``PERSON_STATES``), not the team's.
After each action the page says what happened in a notice (Django's messages) and moves the
keyboard focus to the page's main content.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_POST

from .. import outcomes, transitions
from ..audit import record_refusal
from ..events import SUBJECT
from ..forms import InformationForm, RequestForm
from ..models import Case, CaseStatus
from ..tokens import case_for_status_key, find_verification, status_key
from .limits import limited


@dataclass(frozen=True)
class PersonState:
    """A case's state as the person reads it: a short name and what happens next."""

    name: str | Promise
    next: str | Promise


_WORKING = PersonState(
    _("In progress"),
    _("We are carrying out your request in all our systems. We will email you when it is done."),
)
PERSON_STATES: dict[str, PersonState] = {
    CaseStatus.AWAITING_VERIFICATION: PersonState(
        _("Waiting for you to confirm"),
        _("Please open the link in the email we sent you. We start work once you confirm."),
    ),
    CaseStatus.VERIFIED: PersonState(_("Confirmed"), _("We are starting work on your request.")),
    CaseStatus.IN_REVIEW: PersonState(
        _("Being checked"),
        _(
            "Our privacy team is checking your request. We will email you when it is done, or "
            "if we need anything from you."
        ),
    ),
    CaseStatus.AWAITING_INFORMATION: PersonState(
        _("Waiting for your answer"),
        _("Your request waits until you answer the question below."),
    ),
    CaseStatus.IN_PROGRESS: _WORKING,
    CaseStatus.AWAITING_MANUAL: _WORKING,
    CaseStatus.THIRD_PARTY_REVIEW: PersonState(
        _("Being checked"),
        _(
            "We have gathered your data. Our privacy team checks that it reveals nothing about "
            "other people, then we email you."
        ),
    ),
    CaseStatus.COMPLETED: PersonState(
        _("Answered"), _("We have answered your request and sent you an email about it.")
    ),
    CaseStatus.REJECTED: PersonState(
        _("Closed without action"), _("We have emailed you our reasons and your rights.")
    ),
    CaseStatus.CANCELLED: PersonState(
        _("Withdrawn"), _("The request was withdrawn. Nothing more will happen with it.")
    ),
    CaseStatus.EXPIRED: PersonState(
        _("Closed: not confirmed"),
        _("The request was not confirmed in time. You are welcome to make a new one."),
    ),
}
ANSWER_BEING_CHECKED = PersonState(
    _("Being checked"),
    _("Our privacy team is checking your answer and will email you."),
)


def person_state(case: Case) -> PersonState:
    if case.status == CaseStatus.IN_REVIEW and case.details.get("information_provided"):
        return ANSWER_BEING_CHECKED
    return PERSON_STATES[case.status]


_SUBMITTED_KEY = "dsar_submitted_reference"


def _too_many(request: HttpRequest) -> HttpResponse:
    return render(request, "dsar/rate_limited.html", status=429)


@require_http_methods(["GET", "POST"])
def request_form(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return render(request, "dsar/request_form.html", {"form": RequestForm()})
    if limited(request, group="dsar.submit.ip", key="ip", rate=settings.DSAR["RATE_PER_IP"]):
        return _too_many(request)
    form = RequestForm(request.POST)
    if not form.is_valid():
        return render(request, "dsar/request_form.html", {"form": form}, status=400)
    email = form.cleaned_data["email"].lower()
    if limited(
        request,
        group="dsar.submit.email",
        key=lambda _group, _request: email,
        rate=settings.DSAR["RATE_PER_EMAIL"],
    ):
        return _too_many(request)
    case = transitions.submit_case(
        case_type=form.cleaned_data["request_type"],
        email=form.cleaned_data["email"],
        name=form.cleaned_data["name"],
        customer_number=form.cleaned_data["customer_number"],
        forum_username=form.cleaned_data["forum_username"],
        details=form.details(),
        language=get_language() or settings.LANGUAGE_CODE,
    )
    # The same page whoever asked: it says nothing about whether we hold data on the address.
    request.session[_SUBMITTED_KEY] = case.reference
    return redirect("dsar:submitted")


def submitted(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "dsar/submitted.html",
        {
            "reference": request.session.get(_SUBMITTED_KEY, ""),
            "hours": settings.DSAR["VERIFICATION_TTL_HOURS"],
            "focus_main": True,
        },
    )


@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button; only the POST confirms, so mail scanners that open links do not."""
    if request.method == "POST":
        try:
            case = transitions.verify_case(token=token)
        except transitions.VerificationFailed as failure:
            record_refusal(
                action="verification_refused",
                reason=failure.reason,
                case_id=failure.case.pk if failure.case is not None else None,
                actor=SUBJECT,
            )
            return render(
                request,
                "dsar/verify_failed.html",
                {"reason": failure.reason, "token": token},
                status=410 if failure.reason != failure.INVALID else 404,
            )
        messages.success(request, _("Thank you: your request is confirmed."))
        return redirect("dsar:status", key=status_key(case))
    verification = find_verification(token)
    if verification is None:
        reason = transitions.VerificationFailed.INVALID
    elif verification.used_at is not None or verification.case.verified_at is not None:
        reason = transitions.VerificationFailed.USED
    elif verification.case.status != CaseStatus.AWAITING_VERIFICATION:
        reason = transitions.VerificationFailed.CLOSED
    elif verification.revoked_at is not None:
        reason = transitions.VerificationFailed.REPLACED
    elif verification.expires_at <= timezone.now():
        reason = transitions.VerificationFailed.EXPIRED
    else:
        return render(request, "dsar/verify.html", {"case": verification.case, "token": token})
    return render(
        request,
        "dsar/verify_failed.html",
        {"reason": reason, "token": token},
        status=404 if reason == transitions.VerificationFailed.INVALID else 410,
    )


@require_POST
def resend(request: HttpRequest, token: str) -> HttpResponse:
    """Send a new email for the case behind a used or expired link, to the case's own address."""
    if limited(request, group="dsar.resend.ip", key="ip", rate=settings.DSAR["RATE_PER_IP"]):
        return _too_many(request)
    verification = find_verification(token)
    if verification is None:
        return render(request, "dsar/verify_failed.html", {"reason": "invalid"}, status=404)
    case = verification.case
    if case.status == CaseStatus.AWAITING_VERIFICATION:
        transitions.resend_verification(case.pk)
    elif case.verified_at is not None:
        # A confirmed request, open or answered: send its status page's link again.
        transitions.resend_status_link(case.pk)
    else:
        return render(request, "dsar/verify_failed.html", {"reason": "closed"}, status=410)
    return render(request, "dsar/resent.html")


@require_http_methods(["GET", "POST"])
def status(request: HttpRequest, key: str) -> HttpResponse:
    """The case's state and due date; where staff asked for more information, the answer."""
    case = case_for_status_key(key)
    if case is None:
        return render(request, "dsar/status_unknown.html", status=404)
    form = None
    if case.status == CaseStatus.AWAITING_INFORMATION:
        form = InformationForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            transitions.provide_information(case.pk, answer=form.cleaned_data["answer"])
            messages.success(request, _("Thank you: we have your answer."))
            return redirect("dsar:status", key=key)
    elif request.method == "POST":
        return redirect("dsar:status", key=key)
    context = {"case": case, "days_left": case.days_left(), "form": form}
    if case.status == CaseStatus.COMPLETED:
        context.update(outcomes.finished_context(case))
    return render(
        request,
        "dsar/status.html",
        {**context, "state": person_state(case)},
        status=400 if form is not None and form.errors else 200,
    )
