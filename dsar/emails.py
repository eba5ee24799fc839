"""The emails a subject receives, rendered in their language and sent through anymail's backend."""

from __future__ import annotations

from typing import Any

from anymail.message import AnymailMessage
from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from .models import Case, Controller, DownloadLink, RejectionReason, SystemRun
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
            context={"link": _status_link(case)},
        )


def _status_link(case: Case) -> str:
    return absolute(reverse("dsar:status", args=[status_key(case)]))


def _supervisory_authority() -> str:
    controller = Controller.current()
    return controller.supervisory_authority if controller else ""


def send_rejection_email(case: Case) -> None:
    """Art. 12(4): the reasons, the right to complain and to seek a judicial remedy."""
    reason = RejectionReason(case.details.get("rejection_reason", RejectionReason.OTHER))
    with translation.override(case.language):
        _send(
            case,
            template="rejected",
            subject=gettext("Your request %(reference)s") % {"reference": case.reference},
            tag="rejected",
            context={
                "reason": reason.label,
                # "Another reason, explained below" is for staff: the person reads the note.
                "reason_is_other": reason == RejectionReason.OTHER,
                "note": case.details.get("rejection_note", ""),
                "grounds": case.details.get("decision_grounds", ""),
                "authority": _supervisory_authority(),
                "link": _status_link(case),
            },
        )


def send_information_request(case: Case) -> None:
    """Art. 12(6): ask only for what is needed to confirm the person's identity."""
    with translation.override(case.language):
        _send(
            case,
            template="information_request",
            subject=gettext("We need one more detail for your request %(reference)s")
            % {"reference": case.reference},
            tag="information-request",
            context={
                "what": case.details.get("information_requested", ""),
                "link": _status_link(case),
            },
        )


def send_restriction_lift_notice(case: Case) -> None:
    """Art. 18(3): the person hears of the lifting before it happens."""
    with translation.override(case.language):
        _send(
            case,
            template="restriction_lift",
            subject=gettext("We will lift the restriction of your data (%(reference)s)")
            % {"reference": case.reference},
            tag="restriction-lift",
            context={
                "lift_on": case.details.get("restriction_lift_on", ""),
                "reason": case.details.get("restriction_lift_reason", ""),
            },
        )


def send_completion_email(case: Case, *, token: str) -> None:
    with translation.override(case.language):
        _send(
            case,
            template="completed",
            subject=gettext("Your request %(reference)s is answered")
            % {"reference": case.reference},
            tag="completed",
            context={
                "link": absolute(reverse("dsar:download", args=[token])),
                "days": settings.DSAR["DOWNLOAD_TTL_DAYS"],
            },
        )


def send_download_code(link: DownloadLink, *, code: str) -> None:
    case = link.case
    with translation.override(case.language):
        _send(
            case,
            template="download_code",
            subject=gettext("Your code: %(code)s") % {"code": code},
            tag="download-code",
            context={"code": code, "minutes": settings.DSAR["DOWNLOAD_CODE_TTL_MINUTES"]},
        )


def send_extension_email(case: Case) -> None:
    """Art. 12(3): the person hears of the extension and its reasons within the first month."""
    with translation.override(case.language):
        _send(
            case,
            template="extended",
            subject=gettext("More time for your request %(reference)s")
            % {"reference": case.reference},
            tag="extended",
            context={"reason": case.extension_reason, "link": _status_link(case)},
        )


def send_reminder(case: Case, days_left: int) -> None:
    """To the assignee, or the team when nobody has the case."""
    address = case.assignee.email if case.assignee and case.assignee.email else ""
    address = address or settings.DSAR["TEAM_EMAIL"]
    if days_left < 0:
        subject = f"OVERDUE by {-days_left} days: {case.reference}"
    else:
        subject = f"{case.reference} is due in {days_left} days"
    body = render_to_string(
        "emails/reminder.txt",
        {
            "case": case,
            "days_left": days_left,
            "link": absolute(reverse("admin:dsar_case_change", args=[case.pk])),
        },
    )
    AnymailMessage(
        subject=subject,
        body=body,
        to=[address],
        tags=["reminder"],
        metadata={"case": case.reference},
    ).send()


def send_recipient_notice(run: SystemRun, *, address: str) -> None:
    """Art. 19 GDPR: a recipient of the person's data is told what we changed, so that it can
    do the same. The person's address is the one identifier the recipient needs."""
    context = {
        "run": run,
        "case": run.case,
        "controller": settings.DSAR["CONTROLLER_NAME"],
        "changes": run.summary.get("changed", []),
    }
    message = AnymailMessage(
        subject=f"Data-subject request {run.case.reference}: {run.action} ({run.system.name})",
        body=render_to_string("emails/recipient_notice.txt", context),
        to=[address],
        tags=["art19"],
        metadata={"case": run.case.reference},
    )
    message.send()
