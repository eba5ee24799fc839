"""The emails DSAR Desk sends, composed from a delivery (``dsar.outbox``) in the reader's
language: one composer per kind. A composer may mint the one-time secret its message carries
(a verification token, a download link, a code); it runs once per delivery, and the message is
sealed in the delivery until sent, so a retry never mints another."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from . import downloads, outcomes
from .models import (
    Case,
    Controller,
    DownloadLink,
    EmailDelivery,
    ManualTask,
    RectificationField,
    RejectionReason,
    SystemRun,
)
from .tokens import new_verification, status_key


@dataclass
class ComposedEmail:
    """A rendered message, as it is sealed in its delivery until sent."""

    subject: str
    text: str
    html: str = ""
    to: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)


def absolute(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def controller_name() -> str:
    return Controller.current().name


def _to_person(
    case: Case, *, template: str, subject: str, tag: str, context: dict[str, Any]
) -> ComposedEmail:
    context = {"case": case, "controller": controller_name(), **context}
    return ComposedEmail(
        subject=subject,
        text=render_to_string(f"emails/{template}.txt", context),
        html=render_to_string(f"emails/{template}.html", context),
        to=[case.email],
        tags=[tag],
        metadata={"case": case.reference},
    )


def _status_link(case: Case) -> str:
    return absolute(reverse("dsar:status", args=[status_key(case)]))


def _supervisory_authority() -> str:
    return Controller.current().supervisory_authority


def compose_verification(delivery: EmailDelivery, case: Case) -> ComposedEmail:
    verification, token = new_verification(case)
    delivery.verification = verification
    return _to_person(
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


def compose_confirmed(delivery: EmailDelivery, case: Case) -> ComposedEmail:
    return _to_person(
        case,
        template="confirmed",
        subject=gettext("Your request %(reference)s is confirmed") % {"reference": case.reference},
        tag="confirmed",
        context={"link": _status_link(case)},
    )


def compose_rejected(delivery: EmailDelivery, case: Case) -> ComposedEmail:
    """Art. 12(4): the reasons, the right to complain and to seek a judicial remedy."""
    stored = case.details.get("rejection_reason", RejectionReason.OTHER)
    # A reason no longer offered (an old case's) reads as "another reason" with its note.
    reason = RejectionReason(stored if stored in RejectionReason.values else RejectionReason.OTHER)
    return _to_person(
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


def compose_information_request(delivery: EmailDelivery, case: Case) -> ComposedEmail:
    """Art. 12(6): ask only for what is needed to confirm the person's identity."""
    return _to_person(
        case,
        template="information_request",
        subject=gettext("We need one more detail for your request %(reference)s")
        % {"reference": case.reference},
        tag="information-request",
        context={"what": case.details.get("information_requested", ""), "link": _status_link(case)},
    )


def compose_restriction_lift(delivery: EmailDelivery, case: Case) -> ComposedEmail:
    """Art. 18(3): the person hears of the lifting before it happens."""
    return _to_person(
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


def compose_completed(delivery: EmailDelivery, case: Case) -> ComposedEmail:
    """The answer: what was done in each system, read from the outcomes, and the link."""
    link, token = downloads.new_link(case)
    delivery.download_link = link
    return _to_person(
        case,
        template="completed",
        subject=gettext("Your request %(reference)s is answered") % {"reference": case.reference},
        tag="completed",
        context={
            "link": absolute(reverse("dsar:download", args=[token])),
            "days": settings.DSAR["DOWNLOAD_TTL_DAYS"],
            **outcomes.answer_context(case),
        },
    )


def compose_download_code(delivery: EmailDelivery, case: Case) -> ComposedEmail:
    link = DownloadLink.objects.get(pk=delivery.args["link"], case=case)
    code = downloads.issue_code(link)
    return _to_person(
        case,
        template="download_code",
        # The code stays in the body: subject lines show on lock screens and in logs.
        subject=gettext("Your code for request %(reference)s") % {"reference": case.reference},
        tag="download-code",
        context={"code": code, "minutes": settings.DSAR["DOWNLOAD_CODE_TTL_MINUTES"]},
    )


def compose_extended(delivery: EmailDelivery, case: Case) -> ComposedEmail:
    """Art. 12(3): the person hears of the extension and its reasons within the first month."""
    return _to_person(
        case,
        template="extended",
        subject=gettext("More time for your request %(reference)s") % {"reference": case.reference},
        tag="extended",
        context={"reason": case.extension_reason, "link": _status_link(case)},
    )


def _field_label(name: str) -> str:
    return str(RectificationField(name).label) if name in RectificationField.values else name


def _staff_address(case: Case) -> str:
    address = case.assignee.email if case.assignee and case.assignee.email else ""
    return address or settings.DSAR["TEAM_EMAIL"]


def compose_reminder(delivery: EmailDelivery, case: Case) -> ComposedEmail:
    """To the assignee, or the team when nobody has the case."""
    days_left = int(delivery.args.get("days_left", case.days_left()))
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
    return ComposedEmail(
        subject=subject,
        text=body,
        to=[delivery.to_other or _staff_address(case)],
        tags=["reminder"],
        metadata={"case": case.reference},
    )


def compose_staff_alert(delivery: EmailDelivery, case: Case) -> ComposedEmail:
    """A case needs staff: a system failed for good, or an email could not be delivered."""
    body = render_to_string(
        "emails/staff_alert.txt",
        {
            "case": case,
            "what": delivery.args.get("what", ""),
            "link": absolute(reverse("admin:dsar_case_change", args=[case.pk])),
        },
    )
    return ComposedEmail(
        subject=f"{case.reference} needs attention: {delivery.args.get('what', '')}"[:300],
        text=body,
        to=[delivery.to_other or _staff_address(case)],
        tags=["staff-alert"],
        metadata={"case": case.reference},
    )


def compose_manual_task(delivery: EmailDelivery, case: Case) -> ComposedEmail:
    """A team has work to do by hand for a case: what, and where to record it."""
    task = ManualTask.objects.select_related("run__system").get(pk=delivery.args["task"])
    body = render_to_string(
        "emails/manual_task.txt",
        {
            "case": case,
            "task": task,
            "link": absolute(reverse("admin:dsar_manualtask_complete", args=[task.pk])),
        },
    )
    return ComposedEmail(
        subject=f"{case.reference}: manual task in {task.run.system.name} for {task.team}"[:300],
        text=body,
        to=[delivery.to_other],
        tags=["manual-task"],
        metadata={"case": case.reference},
    )


def compose_recipient_notice(delivery: EmailDelivery, case: Case) -> ComposedEmail:
    """Art. 19 GDPR: a recipient of the person's data is told what we changed, so that it can
    do the same. The person's address is the one identifier the recipient needs."""
    run = SystemRun.objects.select_related("system").get(pk=delivery.args["run"], case=case)
    controller = Controller.current()
    context: dict[str, Any] = {
        "run": run,
        "case": case,
        "controller": controller_name(),
        "contact": controller.contact_email,
        "recipient_name": delivery.args.get("name", ""),
        "kind": run.outcome,
        "retained": run.retained,
        "corrections": [
            {**correction, "label": _field_label(str(correction.get("field", "")))}
            for correction in run.outcome_data.get("corrections") or []
        ],
    }
    return ComposedEmail(
        subject=f"Data-subject request {case.reference}: {run.action} ({run.system.name})",
        text=render_to_string("emails/recipient_notice.txt", context),
        to=[delivery.to_other],
        tags=["art19"],
        metadata={"case": case.reference},
    )


COMPOSERS: dict[str, Callable[[EmailDelivery, Case], ComposedEmail]] = {
    "verification": compose_verification,
    "confirmed": compose_confirmed,
    "rejected": compose_rejected,
    "information_request": compose_information_request,
    "restriction_lift": compose_restriction_lift,
    "completed": compose_completed,
    "download_code": compose_download_code,
    "extended": compose_extended,
    "reminder": compose_reminder,
    "staff_alert": compose_staff_alert,
    "manual_task": compose_manual_task,
    "recipient_notice": compose_recipient_notice,
}

# Emails to staff and to recipients are in the controller's language, not the person's.
STAFF_KINDS = frozenset({"reminder", "staff_alert", "recipient_notice", "manual_task"})


def compose(delivery: EmailDelivery) -> ComposedEmail:
    """Render the delivery's message (the caller seals and saves it)."""
    case = delivery.case
    if case is None:
        raise ValueError(f"email delivery {delivery.pk} has no case to write about")
    language = settings.LANGUAGE_CODE if delivery.kind in STAFF_KINDS else case.language
    with translation.override(language):
        return COMPOSERS[delivery.kind](delivery, case)
