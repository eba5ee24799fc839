"""The subject's pages: the request form, verification, and the case status page."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import get_language
from django.views.decorators.http import require_http_methods, require_POST
from django_ratelimit.core import is_ratelimited

from .. import outcomes, transitions
from ..audit import record_refusal
from ..events import SUBJECT
from ..forms import InformationForm, RequestForm
from ..models import CaseStatus
from ..tokens import case_for_status_key, find_verification, status_key


def _limited(request: HttpRequest, *, group: str, key: str | object, rate: str) -> bool:
    return bool(
        is_ratelimited(request, group=group, key=key, rate=rate, method="POST", increment=True)
    )


def _too_many(request: HttpRequest) -> HttpResponse:
    return render(request, "dsar/rate_limited.html", status=429)


@require_http_methods(["GET", "POST"])
def request_form(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return render(request, "dsar/request_form.html", {"form": RequestForm()})
    if _limited(request, group="dsar.submit.ip", key="ip", rate=settings.DSAR["RATE_PER_IP"]):
        return _too_many(request)
    form = RequestForm(request.POST)
    if not form.is_valid():
        return render(request, "dsar/request_form.html", {"form": form}, status=400)
    email = form.cleaned_data["email"].lower()
    if _limited(
        request,
        group="dsar.submit.email",
        key=lambda _group, _request: email,
        rate=settings.DSAR["RATE_PER_EMAIL"],
    ):
        return _too_many(request)
    transitions.submit_case(
        case_type=form.cleaned_data["request_type"],
        email=form.cleaned_data["email"],
        name=form.cleaned_data["name"],
        customer_number=form.cleaned_data["customer_number"],
        forum_username=form.cleaned_data["forum_username"],
        details=form.details(),
        language=get_language() or settings.LANGUAGE_CODE,
    )
    # The same page whoever asked: it says nothing about whether we hold data on the address.
    return redirect("dsar:submitted")


def submitted(request: HttpRequest) -> HttpResponse:
    return render(request, "dsar/submitted.html")


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
    if _limited(request, group="dsar.resend.ip", key="ip", rate=settings.DSAR["RATE_PER_IP"]):
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
            return redirect("dsar:status", key=key)
    elif request.method == "POST":
        return redirect("dsar:status", key=key)
    context = {"case": case, "days_left": case.days_left(), "form": form}
    if case.status == CaseStatus.COMPLETED:
        context.update(outcomes.finished_context(case))
    return render(
        request,
        "dsar/status.html",
        context,
        status=400 if form is not None and form.errors else 200,
    )
