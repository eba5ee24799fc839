"""Every change of a case's state, one function per transition.

Each function locks the case, checks that the transition is allowed, changes the case, appends
the Event and schedules what follows with ``transaction.on_commit`` — all in one transaction.
Views, the admin, the API and tasks call these; nothing else sets ``Case.status``.
"""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from . import callbacks, tasks
from .deadlines import due_date_for
from .events import SUBJECT, SYSTEM, append_event
from .models import (
    REASONS_NEEDING_A_NOTE,
    Case,
    CaseStatus,
    CaseType,
    ChangeDecision,
    ManualTask,
    ManualTaskStatus,
    ObjectionScope,
    ReferenceCounter,
    RejectionReason,
    RunStatus,
    SystemRun,
    Verification,
)

S = CaseStatus

ALLOWED: dict[str, frozenset[str]] = {
    S.AWAITING_VERIFICATION: frozenset({S.VERIFIED, S.EXPIRED, S.REJECTED, S.CANCELLED}),
    S.VERIFIED: frozenset(
        {S.IN_REVIEW, S.AWAITING_INFORMATION, S.IN_PROGRESS, S.REJECTED, S.CANCELLED}
    ),
    S.IN_REVIEW: frozenset({S.AWAITING_INFORMATION, S.IN_PROGRESS, S.REJECTED, S.CANCELLED}),
    S.AWAITING_INFORMATION: frozenset({S.IN_REVIEW, S.REJECTED, S.CANCELLED}),
    S.IN_PROGRESS: frozenset({S.AWAITING_MANUAL, S.COMPLETED, S.REJECTED, S.CANCELLED}),
    S.AWAITING_MANUAL: frozenset({S.IN_PROGRESS, S.COMPLETED, S.REJECTED, S.CANCELLED}),
    S.COMPLETED: frozenset(),
    S.REJECTED: frozenset(),
    S.CANCELLED: frozenset(),
    S.EXPIRED: frozenset(),
}
CLOSED = frozenset({S.COMPLETED, S.REJECTED, S.CANCELLED, S.EXPIRED})


class TransitionNotAllowed(Exception):
    def __init__(self, case: Case, to: str) -> None:
        super().__init__(f"{case.reference}: {case.status} cannot become {to}")
        self.case = case
        self.to = to


class VerificationFailed(Exception):
    """A verification link that cannot confirm anything; ``reason`` says why."""

    INVALID = "invalid"
    USED = "used"
    EXPIRED = "expired"
    CLOSED = "closed"

    def __init__(self, reason: str, case: Case | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.case = case


def _lock(case_id: int) -> Case:
    return Case.objects.select_for_update().get(pk=case_id)


def _move(
    case: Case,
    to: str,
    *,
    actor: str,
    action: str,
    data: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> None:
    if to not in ALLOWED[case.status]:
        raise TransitionNotAllowed(case, to)
    previous = case.status
    case.status = to
    fields = ["status"]
    if to in CLOSED:
        case.closed_at = now or timezone.now()
        fields.append("closed_at")
    case.save(update_fields=fields)
    append_event(
        case, actor=actor, action=action, data={"from": previous, "to": to, **(data or {})}
    )
    if case.callback_urls:
        # OpenDSR: whoever made the request through the API hears of every change.
        transaction.on_commit(partial(callbacks.send_status_callbacks_task.delay, case.pk, to))


def _next_reference(year: int) -> str:
    counter, _ = ReferenceCounter.objects.select_for_update().get_or_create(year=year)
    counter.last += 1
    counter.save(update_fields=["last"])
    return f"DSAR-{year}-{counter.last:06d}"


def submit_case(
    *,
    case_type: str,
    email: str,
    name: str,
    language: str,
    customer_number: str = "",
    forum_username: str = "",
    details: dict[str, str] | None = None,
    now: dt.datetime | None = None,
) -> Case:
    """Save a new request and queue its verification email once the case is committed."""
    now = now or timezone.now()
    if case_type not in CaseType.values:
        raise ValueError(f"unknown request type {case_type!r}")
    with transaction.atomic():
        case = Case.objects.create(
            reference=_next_reference(timezone.localdate(now).year),
            type=case_type,
            email=email,
            name=name,
            customer_number=customer_number,
            forum_username=forum_username,
            details=details or {},
            language=language,
            received_at=now,
            due_date=due_date_for(now),
        )
        append_event(
            case,
            actor=SUBJECT,
            action="submitted",
            data={"type": case_type, "language": language, "due_date": case.due_date.isoformat()},
        )
        case_id = case.pk
        transaction.on_commit(lambda: tasks.send_verification_email_task.delay(case_id))
    return case


def resend_verification(case_id: int) -> None:
    """Send a fresh verification link to a case still waiting for one (the old ones stay valid
    until they expire, so an email arriving late still works)."""
    with transaction.atomic():
        case = _lock(case_id)
        if case.status != S.AWAITING_VERIFICATION:
            raise TransitionNotAllowed(case, S.AWAITING_VERIFICATION)
        append_event(case, actor=SUBJECT, action="verification_resent")
        transaction.on_commit(lambda: tasks.send_verification_email_task.delay(case_id))


def verify_case(*, token: str, now: dt.datetime | None = None) -> Case:
    """Confirm a request with the token from its verification email.

    Raises VerificationFailed for an unknown, used or expired token, or a closed case.
    """
    from .tokens import find_verification

    now = now or timezone.now()
    with transaction.atomic():
        found = find_verification(token)
        if found is None:
            raise VerificationFailed(VerificationFailed.INVALID)
        case = _lock(found.case_id)
        verification = Verification.objects.select_for_update().get(pk=found.pk)
        if verification.used_at is not None or case.verified_at is not None:
            raise VerificationFailed(VerificationFailed.USED, case)
        if case.status != S.AWAITING_VERIFICATION:
            raise VerificationFailed(VerificationFailed.CLOSED, case)
        if verification.expires_at <= now:
            raise VerificationFailed(VerificationFailed.EXPIRED, case)
        verification.used_at = now
        verification.save(update_fields=["used_at"])
        case.verified_at = now
        case.save(update_fields=["verified_at"])
        _move(case, S.VERIFIED, actor=SUBJECT, action="verified", now=now)
        _after_verification(case, now=now)
    return case


def _after_verification(case: Case, *, now: dt.datetime) -> None:
    case_id = case.pk
    transaction.on_commit(lambda: tasks.send_confirmation_email_task.delay(case_id))
    if needs_review(case):
        _move(case, S.IN_REVIEW, actor=SYSTEM, action="review_required", now=now)
    else:
        _start_processing(case)


def assert_identity(case_id: int, *, by: str, actor: str, now: dt.datetime | None = None) -> Case:
    """A trusted integration vouches for the person's identity (it verified them itself);
    the case records who asserted it, and goes on as if verified by email."""
    now = now or timezone.now()
    with transaction.atomic():
        case = _lock(case_id)
        if case.status != S.AWAITING_VERIFICATION:
            raise TransitionNotAllowed(case, S.VERIFIED)
        case.verified_at = now
        case.verification_method = by
        case.save(update_fields=["verified_at", "verification_method"])
        _move(case, S.VERIFIED, actor=actor, action="identity_asserted", now=now)
        _after_verification(case, now=now)
    return case


def needs_review(case: Case) -> bool:
    """Staff look at a case before systems are touched where the law asks them to weigh it:
    every correction (Art. 16), objections to processing other than direct marketing
    (Art. 21(1)), and whatever types the controller chose to review (DSAR_REVIEW_TYPES)."""
    from django.conf import settings

    if case.type in (CaseType.RECTIFICATION, *settings.DSAR["REVIEW_TYPES"]):
        return True
    return case.type == CaseType.OBJECTION and not is_marketing_objection(case)


def is_marketing_objection(case: Case) -> bool:
    return (
        case.type == CaseType.OBJECTION
        and case.details.get("objection_scope") == ObjectionScope.DIRECT_MARKETING
    )


class ReviewIncomplete(ValueError):
    """A case cannot be approved yet; the message says what is missing."""


def _check_rectification_review(case: Case) -> dict[str, int]:
    changes = list(case.changes.all())
    if not changes:
        raise ReviewIncomplete("Add the fields to correct, as read from the request, first.")
    counts = {decision: 0 for decision in ChangeDecision.values}
    for change in changes:
        if change.decision == ChangeDecision.PENDING:
            raise ReviewIncomplete(f"Decide on the change of '{change.field}' first.")
        if change.decision == ChangeDecision.REFUSED and not change.reason.strip():
            raise ReviewIncomplete(f"Give the reason for refusing the change of '{change.field}'.")
        if change.decision == ChangeDecision.EDITED and not change.final_value.strip():
            raise ReviewIncomplete(f"Give the edited value of '{change.field}'.")
        counts[change.decision] += 1
    return counts


def approve_case(case_id: int, *, actor: str) -> Case:
    """A reviewed case goes to its systems. A correction goes only once staff decided on each
    of its fields; an objection to other processing is decided with decide_objection."""
    with transaction.atomic():
        case = _lock(case_id)
        if case.status != S.IN_REVIEW or (
            case.type == CaseType.OBJECTION and not is_marketing_objection(case)
        ):
            raise TransitionNotAllowed(case, S.IN_PROGRESS)
        data: dict[str, Any] = {}
        if case.type == CaseType.RECTIFICATION:
            data["decisions"] = _check_rectification_review(case)
        append_event(case, actor=actor, action="approved", data=data)
        _start_processing(case)
    return case


def decide_objection(case_id: int, *, upheld: bool, grounds: str, actor: str) -> Case:
    """Art. 21(1): staff weigh the person's reasons against the grounds for the processing.
    Upheld, the processing stops (each system restricts the person's data); not upheld, the
    person is told why, and of their right to complain."""
    if not grounds.strip():
        raise ReviewIncomplete("Record the grounds of the decision.")
    with transaction.atomic():
        case = _lock(case_id)
        if case.status != S.IN_REVIEW or case.type != CaseType.OBJECTION:
            raise TransitionNotAllowed(case, S.IN_PROGRESS)
        case.details = {
            **case.details,
            "decision": "upheld" if upheld else "not_upheld",
            "decision_grounds": grounds,
        }
        case.save(update_fields=["details"])
        append_event(case, actor=actor, action="objection_decided", data={"upheld": upheld})
        if upheld:
            _start_processing(case)
        else:
            _reject(case, reason="objection_not_upheld", actor=actor)
    return case


def reject_case(case_id: int, *, reason: str, note: str = "", actor: str) -> Case:
    """Close a case without action; the person is told why and of their right to complain
    to a supervisory authority and to seek a judicial remedy (Art. 12(4))."""
    if reason not in RejectionReason.values:
        raise ReviewIncomplete(f"Unknown reason {reason!r}.")
    if reason in REASONS_NEEDING_A_NOTE and not note.strip():
        raise ReviewIncomplete("This reason needs a note that shows why (Art. 12(5)).")
    with transaction.atomic():
        case = _lock(case_id)
        _reject(case, reason=reason, actor=actor, note=note)
    return case


def _reject(case: Case, *, reason: str, actor: str, note: str = "") -> None:
    case.details = {**case.details, "rejection_reason": reason, "rejection_note": note}
    case.save(update_fields=["details"])
    _move(case, S.REJECTED, actor=actor, action="rejected", data={"reason": reason})
    case_id = case.pk
    transaction.on_commit(lambda: tasks.send_rejection_email_task.delay(case_id))


def request_information(case_id: int, *, what: str, actor: str) -> Case:
    """Art. 12(6): with reasonable doubts about the person's identity, ask only for what is
    needed to confirm it; the case waits for the answer."""
    if not what.strip():
        raise ReviewIncomplete("Say what information you need.")
    with transaction.atomic():
        case = _lock(case_id)
        case.details = {**case.details, "information_requested": what}
        case.save(update_fields=["details"])
        _move(case, S.AWAITING_INFORMATION, actor=actor, action="information_requested")
        transaction.on_commit(lambda: tasks.send_information_request_task.delay(case_id))
    return case


def provide_information(case_id: int, *, answer: str) -> Case:
    """The person answered; the case goes back to staff for review."""
    with transaction.atomic():
        case = _lock(case_id)
        if case.status != S.AWAITING_INFORMATION:
            raise TransitionNotAllowed(case, S.IN_REVIEW)
        case.details = {**case.details, "information_provided": answer}
        case.save(update_fields=["details"])
        _move(case, S.IN_REVIEW, actor=SUBJECT, action="information_provided")
    return case


def announce_restriction_lift(case_id: int, *, lift_on: dt.date, reason: str, actor: str) -> None:
    """Art. 18(3): the person is told before a restriction is lifted."""
    if not reason.strip():
        raise ReviewIncomplete("Give the reason for lifting the restriction.")
    with transaction.atomic():
        case = _lock(case_id)
        if case.type != CaseType.RESTRICTION or case.status != S.COMPLETED:
            raise TransitionNotAllowed(case, case.status)
        case.details = {
            **case.details,
            "restriction_lift_on": lift_on.isoformat(),
            "restriction_lift_reason": reason,
        }
        case.save(update_fields=["details"])
        append_event(
            case,
            actor=actor,
            action="restriction_lift_announced",
            data={"lift_on": lift_on.isoformat()},
        )
        transaction.on_commit(lambda: tasks.send_restriction_lift_email_task.delay(case_id))


def _start_processing(case: Case) -> None:
    """Create a run per enabled system and, once committed, fan them out in parallel."""
    from .runs import create_runs
    from .suppression import suppress

    if is_marketing_objection(case):
        # Art. 21(3) is absolute: the address is suppressed before any system is even asked.
        suppress(case.email, reference=case.reference)
    runs = create_runs(case)
    _move(
        case,
        S.IN_PROGRESS,
        actor=SYSTEM,
        action="processing_started",
        data={"systems": sorted(run.system.key for run in runs)},
    )
    case_id = case.pk
    run_ids = [run.pk for run in runs]
    transaction.on_commit(lambda: tasks.fan_out(case_id, run_ids))


def settle_case(case_id: int) -> Case:
    """Move a case on once its runs allow: to awaiting_manual while only manual work remains,
    to completed when every run succeeded. A failed run holds the case open for staff."""
    with transaction.atomic():
        case = _lock(case_id)
        if case.status not in (S.IN_PROGRESS, S.AWAITING_MANUAL):
            return case
        statuses = set(case.runs.values_list("status", flat=True))
        if statuses & {RunStatus.PENDING, RunStatus.RUNNING, RunStatus.FAILED}:
            return case
        if RunStatus.WAITING_MANUAL in statuses:
            if case.status == S.IN_PROGRESS:
                _move(case, S.AWAITING_MANUAL, actor=SYSTEM, action="waiting_for_manual_work")
            return case
        _move(case, S.COMPLETED, actor=SYSTEM, action="completed")
        transaction.on_commit(lambda: tasks.assemble_deliverables_task.delay(case_id))
    return case


def complete_manual_task(
    task_id: int, *, outcome: str, actor: str, user_id: int | None, data_found: bool = False
) -> None:
    """Staff record what they found or did; the run succeeds and the case moves on."""
    if not outcome.strip():
        raise ValueError("say what you found or did")
    now = timezone.now()
    with transaction.atomic():
        task = ManualTask.objects.select_related("run__system").get(pk=task_id)
        case = _lock(task.run.case_id)
        task = ManualTask.objects.select_for_update().get(pk=task_id)
        if task.status == ManualTaskStatus.DONE:
            return
        task.status = ManualTaskStatus.DONE
        task.outcome = outcome
        task.completed_at = now
        task.completed_by_id = user_id
        task.data_found = data_found
        task.save()
        SystemRun.objects.filter(pk=task.run_id).update(
            status=RunStatus.SUCCEEDED,
            finished_at=now,
            summary={**task.run.summary, "found": data_found, "summary": "completed by staff"},
        )
        append_event(
            case,
            actor=actor,
            action="manual_task_completed",
            data={"system": task.run.system.key, "action": task.run.action},
        )
    settle_case(case.pk)


def retry_run(run_id: int, *, actor: str) -> None:
    """Run a failed system again (after its configuration or the system itself was fixed)."""
    with transaction.atomic():
        run = SystemRun.objects.select_related("system").get(pk=run_id)
        case = _lock(run.case_id)
        updated = SystemRun.objects.filter(pk=run_id, status=RunStatus.FAILED).update(
            status=RunStatus.PENDING, attempts=0, lease_until=None, finished_at=None
        )
        if updated != 1:
            return
        append_event(
            case,
            actor=actor,
            action="run_retried",
            data={"system": run.system.key, "action": run.action},
        )
        transaction.on_commit(lambda: tasks.run_system_task.delay(run_id))


def expire_case(case_id: int, *, now: dt.datetime | None = None) -> Case:
    """Close a case whose requester never confirmed it."""
    with transaction.atomic():
        case = _lock(case_id)
        _move(case, S.EXPIRED, actor=SYSTEM, action="expired", now=now)
    return case


def expire_unverified_cases(*, now: dt.datetime | None = None) -> int:
    """Expire every case left unverified longer than UNVERIFIED_CASE_TTL_DAYS; return how many."""
    from django.conf import settings

    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.DSAR["UNVERIFIED_CASE_TTL_DAYS"])
    stale = Case.objects.filter(status=S.AWAITING_VERIFICATION, received_at__lt=cutoff)
    expired = 0
    for case_id in stale.values_list("pk", flat=True):
        try:
            expire_case(case_id, now=now)
        except TransitionNotAllowed:
            continue  # verified between the query and the lock: nothing to expire
        expired += 1
    return expired


def assign_case(case_id: int, *, assignee_id: int | None, actor: str) -> Case:
    """Give the case to a member of the team (or take it back to the queue)."""
    with transaction.atomic():
        case = _lock(case_id)
        if not case.is_open:
            raise TransitionNotAllowed(case, case.status)
        case.assignee_id = assignee_id
        case.save(update_fields=["assignee"])
        append_event(case, actor=actor, action="assigned", data={"assignee": assignee_id})
    return case


def extend_deadline(
    case_id: int, *, months: int, reason: str, actor: str, today: dt.date | None = None
) -> Case:
    """Art. 12(3): extend by up to two months for complexity or number of requests — once,
    within the first month, with reasons that the person is told."""
    from dateutil.relativedelta import relativedelta

    if months not in (1, 2):
        raise ReviewIncomplete("A deadline can be extended by one or two months.")
    if not reason.strip():
        raise ReviewIncomplete("Give the reason for the extension; the person will read it.")
    today = today or timezone.localdate()
    with transaction.atomic():
        case = _lock(case_id)
        if not case.is_open:
            raise TransitionNotAllowed(case, case.status)
        if case.extension_months:
            raise ReviewIncomplete("The deadline of this case was already extended.")
        first_month_ends = due_date_for(case.received_at)
        if today > first_month_ends:
            raise ReviewIncomplete(
                "An extension must be told to the person within the first month, which ended "
                f"on {first_month_ends}."
            )
        previous = case.due_date
        case.due_date = first_month_ends + relativedelta(months=months)
        case.extension_months = months
        case.extension_reason = reason
        case.save(update_fields=["due_date", "extension_months", "extension_reason"])
        append_event(
            case,
            actor=actor,
            action="deadline_extended",
            data={"from": previous.isoformat(), "to": case.due_date.isoformat(), "months": months},
        )
        transaction.on_commit(lambda: tasks.send_extension_email_task.delay(case_id))
    return case


def cancel_case(case_id: int, *, actor: str, reason: str = "") -> Case:
    """The person withdrew the request. ``reason`` (how we know) stays with the case's
    details, which the purge removes, never in the event."""
    with transaction.atomic():
        case = _lock(case_id)
        if reason.strip():
            case.details = {**case.details, "cancellation_reason": reason}
            case.save(update_fields=["details"])
        _move(case, S.CANCELLED, actor=actor, action="cancelled")
    return case


def send_deadline_reminders(*, today: dt.date | None = None) -> int:
    """Remind the assignee (or the team) 7 and 2 days before a case is due, and every day it
    is overdue; once a day at most. Returns how many reminders went out."""
    from .models import OPEN_STATUSES, Event

    today = today or timezone.localdate()
    due = Case.objects.filter(status__in=OPEN_STATUSES).filter(
        models.Q(due_date__in=[today + dt.timedelta(days=7), today + dt.timedelta(days=2)])
        | models.Q(due_date__lt=today)
    )
    already = set(
        Event.objects.filter(action="reminder_sent", data__date=today.isoformat()).values_list(
            "case_id", flat=True
        )
    )
    sent = 0
    for case_id in due.exclude(pk__in=already).values_list("pk", flat=True):
        with transaction.atomic():
            case = _lock(case_id)
            days_left = case.days_left(today)
            append_event(
                case,
                actor=SYSTEM,
                action="reminder_sent",
                data={"date": today.isoformat(), "days_left": days_left},
            )
            transaction.on_commit(partial(tasks.send_reminder_task.delay, case_id, days_left))
        sent += 1
    return sent


def purge_closed_cases(*, now: dt.datetime | None = None) -> int:
    """Remove the personal details of cases closed longer ago than the retention period,
    keeping the anonymous record (type, dates, outcome) and the event chain intact."""
    from django.conf import settings

    from .models import DownloadLink, RectificationChange

    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.DSAR["CASE_RETENTION_DAYS"])
    stale = Case.objects.filter(status__in=CLOSED, closed_at__lt=cutoff, purged_at__isnull=True)
    purged = 0
    for case_id in stale.values_list("pk", flat=True):
        with transaction.atomic():
            case = _lock(case_id)
            case.name = ""
            case.email = ""
            case.customer_number = ""
            case.forum_username = ""
            case.details = {}
            case.extension_reason = ""
            case.purged_at = now
            case.save()
            Verification.objects.filter(case=case).delete()
            DownloadLink.objects.filter(case=case).delete()
            RectificationChange.objects.filter(case=case).update(
                proposed_value="", final_value="", reason=""
            )
            ManualTask.objects.filter(run__case=case).update(outcome="", instructions="")
            append_event(case, actor=SYSTEM, action="personal_details_purged")
        purged += 1
    return purged


INTAKE_CHANNELS = frozenset({"email", "letter", "phone", "in_person"})


def record_request(
    *,
    channel: str,
    received_at: dt.datetime,
    case_type: str,
    email: str,
    name: str,
    language: str,
    actor: str,
    request_text: str = "",
    customer_number: str = "",
    forum_username: str = "",
    details: dict[str, str] | None = None,
    attachment: str = "",
    identity_checked: str = "",
) -> Case:
    """Staff record a request that came by email, letter, telephone or in person.

    The deadline runs from ``received_at``, the day it reached us. Without ``identity_checked``
    the person confirms by the email link, as after the web form; with it (what staff checked,
    e.g. "ID card shown at the front desk"), the case is verified now and goes on as after the
    link. ``attachment`` is the storage path of a file already saved (the letter's scan).
    """
    now = timezone.now()
    if channel not in INTAKE_CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    if case_type not in CaseType.values:
        raise ValueError(f"unknown request type {case_type!r}")
    if received_at > now:
        raise ValueError("a request cannot be received in the future")
    extra = {
        "channel": channel,
        "request_text": request_text,
        "attachment": attachment,
        "identity_checked": identity_checked,
    }
    with transaction.atomic():
        case = Case.objects.create(
            reference=_next_reference(timezone.localdate(received_at).year),
            type=case_type,
            email=email,
            name=name,
            customer_number=customer_number,
            forum_username=forum_username,
            details={**(details or {}), **{key: value for key, value in extra.items() if value}},
            language=language,
            received_at=received_at,
            due_date=due_date_for(received_at),
        )
        append_event(
            case,
            actor=actor,
            action="submitted",
            data={
                "type": case_type,
                "language": language,
                "due_date": case.due_date.isoformat(),
                "channel": channel,
            },
        )
        case_id = case.pk
        if not identity_checked:
            transaction.on_commit(lambda: tasks.send_verification_email_task.delay(case_id))
            return case
        case.verified_at = now
        case.verification_method = "staff"
        case.save(update_fields=["verified_at", "verification_method"])
        _move(case, S.VERIFIED, actor=actor, action="identity_checked", now=now)
        _after_verification(case, now=now)
    return case
