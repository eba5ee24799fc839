"""What the case page shows, in the order staff work: a summary with the next step (what was
verified of the person next to what they only typed, an objection to direct marketing on
record), the systems, the manual tasks, the person's request in words, the files, the person's
earlier requests (Art. 12(5)) and the timeline.

``case_page`` reads everything in a fixed number of queries, however long the case's history.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from ..attention import Reason, case_attention_reasons
from ..models import (
    FAILED_DELIVERY_STATES,
    Artifact,
    Case,
    CaseStatus,
    CaseType,
    DataSystem,
    EmailDelivery,
    Event,
    ManualTaskStatus,
    ObjectionScope,
    OutcomeKind,
    ProcessingActivity,
    Redaction,
    RejectionReason,
    RunStatus,
    SystemRun,
)
from ..outcomes import OutcomeKindLabel
from ..suppression import entry_for
from .timeline import (
    ACTION_NAMES,
    CHANNEL_NAMES,
    EMAIL_KINDS,
    Names,
    TimelineEntry,
    actor_name,
    sentence,
)


@dataclass(frozen=True)
class Detail:
    """One part of the person's request (or of our answer to it), in words."""

    label: str
    text: str
    url: str = ""


@dataclass(frozen=True)
class SystemRow:
    name: str
    action: str
    status: str
    status_label: str
    attempts: int
    outcome: str
    error: str
    retry_url: str
    task_url: str


@dataclass(frozen=True)
class TaskRow:
    system: str
    team: str
    done: bool
    status_label: str
    url: str
    completed_by: str
    completed_at: dt.datetime | None
    outcome: str


@dataclass(frozen=True)
class IdentityDetail:
    """One detail that names the person, and whether it was verified or only typed."""

    label: str
    value: str
    verified: bool
    how: str


@dataclass(frozen=True)
class EarlierCase:
    reference: str
    url: str
    type_label: str
    status_label: str
    received_at: dt.datetime
    outcome: str
    days_before: int


@dataclass(frozen=True)
class MarketingObjection:
    """The person's objection to direct marketing on record (the suppression list)."""

    since: dt.date
    reference: str
    url: str
    this_case: bool
    consent_found: bool


@dataclass(frozen=True)
class EmailRow:
    """One email the case sent or tried to send, and why it did not arrive if it did not."""

    kind: str
    to: str
    state: str
    state_label: str
    attempts: int
    error: str
    created_at: dt.datetime
    sent_at: dt.datetime | None
    needs_attention: bool


@dataclass(frozen=True)
class FileRow:
    label: str
    filename: str
    url: str
    size: int
    expires_at: dt.datetime
    downloads: int


@dataclass(frozen=True)
class HeldRecords:
    """Records of one category that may hold other people's data (Art. 15(4))."""

    system: str
    category: str
    records: int


@dataclass(frozen=True)
class CasePage:
    case: Case
    days_left: int | None
    reasons: list[Reason]
    next_step: str
    systems: list[SystemRow]
    tasks: list[TaskRow]
    request: list[Detail]
    answer: list[Detail]
    earlier: list[EarlierCase]
    files: list[FileRow]
    emails: list[EmailRow]
    timeline: list[TimelineEntry]
    # Art. 15(4): what waits (or waited) for staff to read before the answer, and where.
    held: list[HeldRecords]
    review_url: str
    redacted: int
    identity: list[IdentityDetail]
    marketing_objection: MarketingObjection | None
    information_rule: str

    @property
    def earlier_within_a_year(self) -> int:
        return sum(1 for other in self.earlier if other.days_before <= 365)

    @property
    def overdue_by(self) -> int:
        return -self.days_left if self.days_left is not None and self.days_left < 0 else 0

    @property
    def undelivered_emails(self) -> int:
        return sum(1 for row in self.emails if row.needs_attention)

    @property
    def systems_done(self) -> int:
        return sum(1 for row in self.systems if row.status == RunStatus.SUCCEEDED)


RUN_STATUS_LABELS: Mapping[str, Any] = {
    RunStatus.PENDING: gettext_lazy("Waiting to start"),
    RunStatus.RUNNING: gettext_lazy("Running"),
    RunStatus.SUCCEEDED: gettext_lazy("Done"),
    RunStatus.FAILED: gettext_lazy("Failed"),
    RunStatus.WAITING_MANUAL: gettext_lazy("Manual task"),
}


def _outcome(run: SystemRun) -> str:
    """The run's state for staff: while it works, what it waits for; when done, its recorded
    outcome in the vocabulary every document uses, with what staff need besides."""
    if run.status == RunStatus.WAITING_MANUAL:
        return _("Waits for %(team)s.") % {"team": run.manual_task.team} if _has_task(run) else ""
    if run.status in (RunStatus.PENDING, RunStatus.RUNNING) and run.last_error:
        return _("Trying again after: %(error)s") % {"error": run.last_error}
    if run.status != RunStatus.SUCCEEDED or not run.outcome:
        return ""
    parts = [str(OutcomeKindLabel.get(run.outcome)).capitalize() + "."]
    counts = run.counts
    if counts:
        parts.append(", ".join(f"{name}: {count}" for name, count in sorted(counts.items())))
    if run.retained:
        parts.append(
            _("Kept until %(until)s.") % {"until": max(str(r["until"]) for r in run.retained)}
        )
    if run.outcome_summary and not _has_task(run):
        parts.append(f"({run.outcome_summary})")
    return " ".join(part for part in parts if part)


def _has_task(run: SystemRun) -> bool:
    return hasattr(run, "manual_task")


def _systems(runs: list[SystemRun]) -> list[SystemRow]:
    return [
        SystemRow(
            name=run.system.name,
            action=str(ACTION_NAMES.get(run.action, run.action)),
            status=run.status,
            status_label=str(RUN_STATUS_LABELS.get(run.status, run.status)),
            attempts=run.attempts,
            outcome=_outcome(run),
            error=run.last_error if run.status == RunStatus.FAILED else "",
            retry_url=reverse("admin:dsar_systemrun_retry", args=[run.pk])
            if run.status == RunStatus.FAILED
            else "",
            task_url=reverse("admin:dsar_manualtask_change", args=[run.manual_task.pk])
            if _has_task(run)
            else "",
        )
        for run in runs
    ]


def _tasks(runs: list[SystemRun]) -> list[TaskRow]:
    rows = []
    for run in runs:
        if not _has_task(run):
            continue
        task = run.manual_task
        done = task.status == ManualTaskStatus.DONE
        rows.append(
            TaskRow(
                system=run.system.name,
                team=task.team,
                done=done,
                status_label=str(task.get_status_display()),
                url=reverse("admin:dsar_manualtask_change", args=[task.pk]),
                completed_by=task.completed_by.get_username() if task.completed_by else "",
                completed_at=task.completed_at,
                outcome=task.internal_note or task.note_to_person,
            )
        )
    return rows


REQUEST_LABELS: Mapping[str, Any] = {
    "request_text": gettext_lazy("The request, in the person's words"),
    "rectification_wrong": gettext_lazy("What is wrong or incomplete"),
    "rectification_correct": gettext_lazy("What is correct"),
    "objection_scope": gettext_lazy("Objects to"),
    "objection_reasons": gettext_lazy("The person's reasons"),
    "information_requested": gettext_lazy("We asked"),
    "information_provided": gettext_lazy("The person answered"),
}
ANSWER_LABELS: Mapping[str, Any] = {
    "decision": gettext_lazy("Decision on the objection"),
    "objection_activities": gettext_lazy("Processing the objection stops"),
    "decision_grounds": gettext_lazy("Grounds of the decision"),
    "rejection_reason": gettext_lazy("Reason for rejecting"),
    "rejection_note": gettext_lazy("Note to the person"),
    "cancellation_reason": gettext_lazy("Reason for cancelling"),
    "restriction_lift_on": gettext_lazy("Restriction ends on"),
    "restriction_lift_reason": gettext_lazy("Why the restriction ends"),
    "marketing_consent_note": gettext_lazy("Decision on the new marketing opt-in"),
}
# Keys of Case.details that are shown elsewhere on the page (the summary says how it came in,
# and by how many days the deadline waited for the person's answer).
SHOWN_ELSEWHERE = frozenset(
    {"channel", "attachment", "attachment_deleted", "identity_checked", "deadline_paused_days"}
)


def _day(iso: str) -> str:
    try:
        return date_format(dt.date.fromisoformat(iso), "DATE_FORMAT")
    except ValueError:
        return iso


def _detail_text(key: str, value: Any) -> str:
    if key == "objection_scope" and value in ObjectionScope.values:
        return str(ObjectionScope(value).label)
    if key == "rejection_reason" and value in RejectionReason.values:
        return str(RejectionReason(value).label)
    if key == "decision":
        return _("Upheld") if value == "upheld" else _("Not upheld")
    if key == "objection_activities" and isinstance(value, list):
        names = dict(ProcessingActivity.objects.filter(key__in=value).values_list("key", "name"))
        return ", ".join(names.get(item) or str(item) for item in value)
    return str(value)


def _details(case: Case) -> tuple[list[Detail], list[Detail]]:
    request = [
        Detail(str(label), _detail_text(key, case.details[key]))
        for key, label in REQUEST_LABELS.items()
        if case.details.get(key)
    ]
    if case.details.get("attachment"):
        request.append(
            Detail(
                _("Attachment"),
                str(case.details["attachment"]).rsplit("/", 1)[-1],
                reverse("admin:dsar_case_attachment", args=[case.pk]),
            )
        )
    elif case.details.get("attachment_deleted"):
        request.append(
            Detail(
                _("Attachment"),
                _("Deleted on %(day)s.") % {"day": _day(str(case.details["attachment_deleted"]))},
            )
        )
    answer = [
        Detail(str(label), _detail_text(key, case.details[key]))
        for key, label in ANSWER_LABELS.items()
        if case.details.get(key)
    ]
    known = {*REQUEST_LABELS, *ANSWER_LABELS, *SHOWN_ELSEWHERE}
    answer += [
        Detail(key.replace("_", " ").capitalize(), str(value))
        for key, value in case.details.items()
        if key not in known and value
    ]
    return request, answer


def how_received(case: Case) -> str:
    channel = case.details.get("channel")
    if channel:
        return str(CHANNEL_NAMES.get(channel, channel))
    if case.external_id:
        return _("OpenDSR API")
    return _("web form")


def how_verified(case: Case) -> str:
    """What was confirmed about the person, and how."""
    if case.verified_at is None:
        return _("Not yet: the email address is not confirmed.")
    method = case.verification_method or "email"
    if method == "email":
        return _("Email address confirmed by link.")
    if case.details.get("identity_checked"):
        return _("Checked by staff: %(proof)s") % {"proof": case.details["identity_checked"]}
    return _("Vouched for by %(by)s.") % {"by": method}


def identity(case: Case) -> list[IdentityDetail]:
    """The details that name the person, each marked verified or not: confirming the email
    link verifies the address and nothing else; the name, customer number and forum name are
    as the person typed them, hints for finding their data, never proof (Art. 12(2), (6)).
    Staff who checked a proof of identity, or a trusted integration that vouched for it, also
    verified the name."""
    unverified = _("not verified: as the person typed it")
    email_how = (
        how_verified(case) if case.verified_at else _("not yet verified: the link is unused")
    )
    vouched = case.verified_at is not None and (case.verification_method or "email") != "email"
    details = [
        IdentityDetail(_("Email address"), case.email, case.verified_at is not None, email_how),
        IdentityDetail(
            _("Name"), case.name, vouched, how_verified(case) if vouched else unverified
        ),
    ]
    if case.customer_number:
        details.append(
            IdentityDetail(_("Customer number"), case.customer_number, False, unverified)
        )
    if case.forum_username:
        details.append(IdentityDetail(_("Forum user name"), case.forum_username, False, unverified))
    return details


def information_rule() -> str:
    """The controller's rule on the deadline while the person is asked for more (Art. 12(6))."""
    if settings.DSAR["INFORMATION_PAUSES_DEADLINE"]:
        return _(
            "While we wait for the person's answer to a question, the deadline waits too: it "
            "moves by the days waited."
        )
    return _("While we wait for the person's answer to a question, the deadline keeps running.")


def marketing_objection(case: Case) -> MarketingObjection | None:
    """The person's objection to direct marketing, if it is on the suppression list."""
    if not case.email:
        return None
    entry = entry_for(case.email)
    if entry is None:
        return None
    origin = Case.objects.filter(reference=entry.reference).values_list("pk", flat=True).first()
    return MarketingObjection(
        since=timezone.localdate(entry.created_at),
        reference=entry.reference,
        url=reverse("admin:dsar_case_change", args=[origin]) if origin else "",
        this_case=entry.reference == case.reference,
        consent_found=entry.consent_found_at is not None,
    )


def next_step(case: Case, runs: list[SystemRun], reasons: list[Reason]) -> str:
    """What the team does next on this case, in one sentence."""
    failed = [run.system.name for run in runs if run.status == RunStatus.FAILED]
    waiting = [
        run.system.name
        for run in runs
        if _has_task(run) and run.manual_task.status == ManualTaskStatus.OPEN
    ]
    status = case.status
    if failed:
        return _("Fix what made %(systems)s fail, then retry.") % {"systems": ", ".join(failed)}
    if status == CaseStatus.AWAITING_VERIFICATION:
        return _("Nothing yet: the person has to confirm the request from their email.")
    if status == CaseStatus.AWAITING_INFORMATION:
        return _("Nothing yet: we wait for the person's answer.")
    if status == CaseStatus.IN_REVIEW:
        if Reason.ANSWER_RECEIVED in reasons:
            return _("Read the person's answer, then approve, reject or ask again.")
        if case.type == CaseType.RECTIFICATION:
            return _("Decide on each field to correct, save, then approve.")
        if case.type == CaseType.OBJECTION:
            return _("Weigh the person's reasons and decide on the objection.")
        return _("Review the request, then approve or reject it.")
    if waiting:
        return _("Complete the manual tasks: %(systems)s.") % {"systems": ", ".join(waiting)}
    if status == CaseStatus.THIRD_PARTY_REVIEW:
        return _(
            "Read the records that may hold other people's data, redact or withhold what the "
            "person may not see, then release the answer."
        )
    if case.is_open:
        return _("Nothing: the systems are at work.")
    return _("Nothing: the case is closed.")


def _earlier(case: Case) -> list[EarlierCase]:
    """The person's earlier requests (the same address, however written), newest first, with
    what came of each and how long before this one: for staff to judge whether requests are
    manifestly excessive by their repetition (Art. 12(5))."""
    if not case.email.strip():
        return []
    earlier = (
        Case.objects.filter(email__iexact=case.email.strip(), received_at__lt=case.received_at)
        .exclude(pk=case.pk)
        .annotate(
            systems=Count("runs"),
            holding=Count(
                "runs",
                filter=~Q(runs__outcome__in=["", OutcomeKind.NOT_HELD, OutcomeKind.FAILED]),
            ),
        )
        .order_by("-received_at")[:20]
    )
    received = timezone.localdate(case.received_at)
    return [
        EarlierCase(
            reference=other.reference,
            url=reverse("admin:dsar_case_change", args=[other.pk]),
            type_label=str(other.get_type_display()),
            status_label=str(other.get_status_display()),
            received_at=other.received_at,
            outcome=_what_came_of(other),
            days_before=(received - timezone.localdate(other.received_at)).days,
        )
        for other in earlier
    ]


def _what_came_of(case: Case) -> str:
    if case.status == CaseStatus.REJECTED:
        reason = case.details.get("rejection_reason", "")
        label = RejectionReason(reason).label if reason in RejectionReason.values else reason
        return _("rejected: %(reason)s") % {"reason": label} if label else _("rejected")
    if case.status != CaseStatus.COMPLETED:
        return str(case.get_status_display()).lower()
    systems, holding = getattr(case, "systems", 0), getattr(case, "holding", 0)
    if systems and not holding:
        return _("answered: no data held")
    return ngettext(
        "answered: data in %(count)d of %(total)d system",
        "answered: data in %(count)d of %(total)d systems",
        systems,
    ) % {"count": holding, "total": systems}


def _files(case: Case) -> list[FileRow]:
    return [
        FileRow(
            label=str(artifact.get_kind_display()),
            filename=artifact.filename,
            url=reverse("admin:dsar_case_artifact", args=[case.pk, artifact.kind]),
            size=artifact.size,
            expires_at=artifact.expires_at,
            downloads=artifact.downloads,
        )
        for artifact in Artifact.objects.filter(case=case).order_by("kind")
    ]


def _emails(case: Case) -> list[EmailRow]:
    """Every email of the case, newest first; those that failed and nobody dealt with yet
    are marked for staff (they can send them again, or say they dealt with them)."""
    return [
        EmailRow(
            kind=str(EMAIL_KINDS.get(delivery.kind, delivery.kind)),
            to=delivery.to_other or _("the person"),
            state=delivery.state,
            state_label=str(delivery.get_state_display()),
            attempts=delivery.attempts,
            error=delivery.last_error if delivery.state in FAILED_DELIVERY_STATES else "",
            created_at=delivery.created_at,
            sent_at=delivery.sent_at,
            needs_attention=delivery.needs_attention,
        )
        for delivery in EmailDelivery.objects.filter(case=case).defer("sealed")
    ]


def _timeline(case: Case) -> list[TimelineEntry]:
    events = list(
        Event.objects.filter(case=case)
        .order_by("-seq")
        .values_list("seq", "created_at", "actor", "action", "data")
    )
    systems = dict(DataSystem.objects.values_list("key", "name"))
    user_ids = {
        int(data["assignee"])
        for _seq, _at, _actor, action, data in events
        if action == "assigned" and data.get("assignee") is not None
    }
    users = dict(
        get_user_model().objects.filter(pk__in=user_ids).values_list("pk", "username")
        if user_ids
        else []
    )
    names = Names(systems=systems, users=users)
    return [
        TimelineEntry(seq, at, actor_name(actor), sentence(action, data, names))
        for seq, at, actor, action, data in events
    ]


def _held(case: Case, runs: list[SystemRun]) -> list[HeldRecords]:
    if case.type not in (CaseType.ACCESS, CaseType.PORTABILITY):
        return []
    return [
        HeldRecords(run.system.name, category, count)
        for run in runs
        if run.status == RunStatus.SUCCEEDED and run.result_file
        for category, count in sorted(run.counts.items())
        if count and category in (run.system.review_categories or [])
    ]


def case_page(case: Case) -> CasePage:
    runs = list(
        SystemRun.objects.filter(case=case)
        .select_related("system", "manual_task", "manual_task__completed_by")
        .order_by("system__name", "action")
    )
    reasons = case_attention_reasons(case)
    request, answer = _details(case)
    held = _held(case, runs)
    return CasePage(
        case=case,
        days_left=case.days_left() if case.is_open else None,
        reasons=reasons,
        next_step=next_step(case, runs, reasons),
        systems=_systems(runs),
        tasks=_tasks(runs),
        request=request,
        answer=answer,
        earlier=_earlier(case),
        files=_files(case),
        emails=_emails(case),
        timeline=_timeline(case),
        held=held,
        review_url=reverse("admin:dsar_case_third_party", args=[case.pk]) if held else "",
        redacted=Redaction.objects.filter(run__case=case).count() if held else 0,
        identity=identity(case),
        marketing_objection=marketing_objection(case),
        information_rule=information_rule(),
    )
