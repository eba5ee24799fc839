"""Every change of a case's state, one function per transition.

Each function locks the case, checks that the transition is allowed, changes the case, appends
the Event and writes the work that follows (system runs, emails, jobs) as rows — all in one
transaction; workers are woken once it commits (``dsar.queue``), and the sweeper wakes them
again for anything the broker lost. Views, the admin, the API and tasks call these; nothing else
sets ``Case.status``. Periodic batch work (reminders, expiry, purges, the sweeper) lives in
``dsar.housekeeping``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from . import inserts, manual, queue, redactions, runs
from .closings import count_closing
from .deadlines import due_date_for
from .events import SUBJECT, SYSTEM, UNKNOWN, Unknown, append_event, new_event
from .manual import ManualResult
from .models import (
    REASONS_NEEDING_A_NOTE,
    AttemptState,
    Case,
    CaseStatus,
    CaseType,
    ChangeDecision,
    DeliveryState,
    EmailDelivery,
    Event,
    Job,
    JobKind,
    LegalBasis,
    ManualTask,
    ManualTaskStatus,
    ObjectionScope,
    OutcomeKind,
    ProcessingActivity,
    RectificationField,
    Redaction,
    RejectionReason,
    RetentionRule,
    RunAttempt,
    RunStatus,
    SuppressionEntry,
    SystemRun,
    Verification,
)
from .outbox import cancel_pending, new_email, queue_email
from .references import next_case_numbers, next_reference
from .suppression import active_entries_sql, entry_for, suppress

S = CaseStatus

ALLOWED: dict[str, frozenset[str]] = {
    S.AWAITING_VERIFICATION: frozenset({S.VERIFIED, S.EXPIRED, S.REJECTED, S.CANCELLED}),
    S.VERIFIED: frozenset(
        {S.IN_REVIEW, S.AWAITING_INFORMATION, S.IN_PROGRESS, S.REJECTED, S.CANCELLED}
    ),
    S.IN_REVIEW: frozenset({S.AWAITING_INFORMATION, S.IN_PROGRESS, S.REJECTED, S.CANCELLED}),
    S.AWAITING_INFORMATION: frozenset({S.IN_REVIEW, S.REJECTED, S.CANCELLED}),
    # Staff may ask the person for more while the systems work (Art. 12(6)); the answer goes
    # back to review, and approving it lets the case finish.
    S.IN_PROGRESS: frozenset(
        {
            S.AWAITING_MANUAL,
            S.AWAITING_INFORMATION,
            S.THIRD_PARTY_REVIEW,
            S.COMPLETED,
            S.REJECTED,
            S.CANCELLED,
        }
    ),
    S.AWAITING_MANUAL: frozenset(
        {
            S.IN_PROGRESS,
            S.AWAITING_INFORMATION,
            S.THIRD_PARTY_REVIEW,
            S.COMPLETED,
            S.REJECTED,
            S.CANCELLED,
        }
    ),
    S.THIRD_PARTY_REVIEW: frozenset({S.COMPLETED, S.REJECTED, S.CANCELLED}),
    S.COMPLETED: frozenset(),
    S.REJECTED: frozenset(),
    S.CANCELLED: frozenset(),
    S.EXPIRED: frozenset(),
}
CLOSED = frozenset({S.COMPLETED, S.REJECTED, S.CANCELLED, S.EXPIRED})
# Closed without an answer: the case's files have no purpose left (Art. 5(1)(e)) and are
# deleted DSAR_CLOSED_FILES_GRACE_HOURS later (dsar.casefiles). A completed case's go when its
# answer's download period ends (dsar.housekeeping.delete_expired_artifacts).
CLOSED_WITHOUT_ANSWER = frozenset({S.REJECTED, S.CANCELLED, S.EXPIRED})

# Art. 21(1): a person may object to processing based on these (Art. 6(1)(e) and (f)).
OBJECTIONABLE_BASES = frozenset({LegalBasis.PUBLIC_TASK, LegalBasis.LEGITIMATE_INTERESTS})

# Art. 19: the recipients of a system's data are told of these outcomes.
NOTIFIED_OUTCOMES = frozenset({"erased", "anonymised", "retained", "restricted", "corrected"})


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
    REPLACED = "replaced"
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
    now = now or timezone.now()
    if to in CLOSED:
        case.closed_at = now
        fields.append("closed_at")
    case.save(update_fields=fields)
    if to == S.COMPLETED:
        count_closing(case)
    append_event(
        case, actor=actor, action=action, data={"from": previous, "to": to, **(data or {})}
    )
    if to in CLOSED_WITHOUT_ANSWER:
        grace = dt.timedelta(hours=settings.DSAR["CLOSED_FILES_GRACE_HOURS"])
        _add_job(case, JobKind.DELETE_FILES, not_before=now + grace)
    for index in range(len(case.callback_urls)):
        # OpenDSR: whoever made the request through the API hears of every change.
        _add_job(
            case, JobKind.CALLBACK, key=f"{index}:{to}", args={"url_index": index, "status": to}
        )


def _add_job(
    case: Case,
    kind: str,
    *,
    key: str = "",
    args: dict[str, Any] | None = None,
    not_before: dt.datetime | None = None,
) -> None:
    """Write the job; wake a worker once the transaction commits, or, for a job due later than
    a countdown may wait, leave it to the sweeper, which publishes it when it is due."""
    job, created = Job.objects.get_or_create(
        case=case, kind=kind, key=key, defaults={"args": args or {}, "not_before": not_before}
    )
    if not created:
        return
    wait = (not_before - timezone.now()).total_seconds() if not_before else 0.0
    if wait <= settings.DSAR["MAX_COUNTDOWN_SECONDS"]:
        queue.job_soon(job.pk, countdown=wait if wait > 0 else None)


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
    """Save a new request and its verification email, sent once the case is committed.

    On PostgreSQL this is two statements: the case's id, reference and whether the address
    objected to direct marketing (``next_case_numbers``), then the case, its first event and
    the email in one INSERT (``insert_new``), which is a transaction of its own (a third reads
    the objection for its event when there is one) and notifies the workers' email dispatcher,
    so that the request makes no broker call (``dsar.queue``)."""
    now = now or timezone.now()
    if case_type not in CaseType.values:
        raise ValueError(f"unknown request type {case_type!r}")
    with inserts.transaction_unless_one_statement():
        numbers = next_case_numbers(timezone.localdate(now).year, exists=active_entries_sql(email))
        case = Case(
            pk=numbers.case_id,
            reference=numbers.reference,
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
        rows: list[Model] = [case]
        if case.pk is None:  # SQLite: the id comes from the case's INSERT
            case.save(force_insert=True)
            rows = []
        submitted = new_event(
            case,
            actor=SUBJECT,
            action="submitted",
            data={"type": case_type, "language": language, "due_date": case.due_date.isoformat()},
            after=None,
        )
        rows.append(submitted)
        if numbers.objected:
            objection = _marketing_objection_event(case, after=submitted)
            if objection is not None:
                rows.append(objection)
        delivery = new_email(case, "verification")
        if queue.emails_wake_through_database():
            inserts.insert_new(*rows, delivery, notify=(queue.EMAIL_CHANNEL, delivery))
        else:
            inserts.insert_new(*rows, delivery)
            queue.email_soon(delivery.pk, marked=True)
    return case


def _marketing_objection_event(case: Case, *, after: Event | None) -> Event | None:
    """The event that says the person objected to direct marketing (None if no objection holds):
    a new request from someone who objected says so from the start, whichever way it came in
    (form, API, staff's intake), so that nobody subscribes them again while working it."""
    entry = entry_for(case.email)
    if entry is None:
        return None
    return new_event(
        case,
        actor=SYSTEM,
        action="marketing_objection_on_record",
        data={"since": entry.created_at.date().isoformat(), "reference": entry.reference},
        after=after,
    )


def _note_marketing_objection(case: Case, *, after: Event | Unknown = UNKNOWN) -> None:
    """Append the marketing-objection event to a case (its lock held) if an objection holds;
    ``after``: the case's last event, when the caller knows it."""
    last = (
        Event.objects.filter(case=case).order_by("-seq").only("seq", "hash").first()
        if isinstance(after, Unknown)
        else after
    )
    event = _marketing_objection_event(case, after=last)
    if event is not None:
        event.save()


def resend_verification(case_id: int, *, actor: str = SUBJECT) -> None:
    """Send a new verification link to a case still waiting for one; earlier links die and
    unsent earlier emails are cancelled, so one verification link is live at a time."""
    now = timezone.now()
    with transaction.atomic():
        case = _lock(case_id)
        if case.status != S.AWAITING_VERIFICATION:
            raise TransitionNotAllowed(case, S.AWAITING_VERIFICATION)
        revoked = Verification.objects.filter(
            case=case, used_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=now)
        cancelled = cancel_pending(case, "verification")
        append_event(
            case,
            actor=actor,
            action="verification_resent",
            data={"links_revoked": revoked, "emails_cancelled": cancelled},
        )
        _note_marketing_objection(case)
        queue_email(case, "verification")


def resend_email(delivery_id: int, *, actor: str) -> EmailDelivery:
    """Staff send a failed email again: a new delivery, composed anew (a verification link is
    re-issued and the old one revoked; a completion email gets a new download link)."""
    with transaction.atomic():
        failed = EmailDelivery.objects.select_related("case").get(pk=delivery_id)
        if failed.case_id is None:
            raise ValueError("only a case's emails can be resent here")
        case = _lock(failed.case_id)
        if failed.kind == "verification":
            if case.status != S.AWAITING_VERIFICATION:
                raise TransitionNotAllowed(case, S.AWAITING_VERIFICATION)
            Verification.objects.filter(
                case=case, used_at__isnull=True, revoked_at__isnull=True
            ).update(revoked_at=timezone.now())
        cancel_pending(case, failed.kind)
        EmailDelivery.objects.filter(pk=failed.pk).update(acknowledged_at=timezone.now())
        delivery = queue_email(case, failed.kind, to_other=failed.to_other, args=dict(failed.args))
        append_event(
            case,
            actor=actor,
            action="email_resent",
            data={"kind": failed.kind, "failed": failed.pk, "delivery": delivery.pk},
        )
    return delivery


def acknowledge_email_failure(delivery_id: int, *, actor: str) -> None:
    """Staff saw a failed email and dealt with it another way (a phone call, a letter)."""
    with transaction.atomic():
        delivery = EmailDelivery.objects.get(pk=delivery_id)
        if delivery.case_id is None:
            return
        case = _lock(delivery.case_id)
        EmailDelivery.objects.filter(pk=delivery.pk).update(acknowledged_at=timezone.now())
        append_event(
            case,
            actor=actor,
            action="email_failure_acknowledged",
            data={"kind": delivery.kind, "delivery": delivery.pk},
        )


def resend_failed_emails(case_id: int, *, actor: str) -> int:
    """Staff send every email of the case that failed and nobody dealt with yet again (each as
    ``resend_email``: a verification link is re-issued and the old one revoked); the same email
    is sent once however often it failed. A verification email of a case confirmed since is
    not sent again, only marked as dealt with. Returns how many emails go out."""
    from .models import FAILED_DELIVERY_STATES

    sent = 0
    with transaction.atomic():
        case = _lock(case_id)
        failed = EmailDelivery.objects.filter(
            case=case, state__in=FAILED_DELIVERY_STATES, acknowledged_at__isnull=True
        ).order_by("-pk")
        seen: set[tuple[str, str, str]] = set()
        for delivery in failed:
            same = (delivery.kind, delivery.to_other, repr(sorted(delivery.args.items())))
            if same in seen or (
                delivery.kind == "verification" and case.status != S.AWAITING_VERIFICATION
            ):
                acknowledge_email_failure(delivery.pk, actor=actor)
                continue
            seen.add(same)
            resend_email(delivery.pk, actor=actor)
            sent += 1
    return sent


def resend_status_link(case_id: int) -> None:
    """The person asked again (from a used link): email the link to their status page."""
    with transaction.atomic():
        case = _lock(case_id)
        if case.verified_at is None:
            raise TransitionNotAllowed(case, case.status)
        append_event(case, actor=SUBJECT, action="status_link_resent")
        queue_email(case, "confirmed")


def verify_case(*, token: str, now: dt.datetime | None = None) -> Case:
    """Confirm a request with the token from its verification email.

    Raises VerificationFailed for an unknown, used, replaced or expired token, or a closed case.
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
        if verification.revoked_at is not None:
            raise VerificationFailed(VerificationFailed.REPLACED, case)
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
    queue_email(case, "confirmed")
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
        cancel_pending(case, "verification")
        _move(case, S.VERIFIED, actor=actor, action="identity_asserted", now=now)
        _after_verification(case, now=now)
    return case


def needs_review(case: Case) -> bool:
    """Staff look at a case before systems are touched where the law asks them to weigh it:
    every correction (Art. 16), objections to processing other than direct marketing
    (Art. 21(1)), and whatever types the controller chose to review (DSAR_REVIEW_TYPES)."""
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
            case.type == CaseType.OBJECTION
            and not is_marketing_objection(case)
            and case.details.get("decision") != "upheld"
        ):
            raise TransitionNotAllowed(case, S.IN_PROGRESS)
        data: dict[str, Any] = {}
        if case.type == CaseType.RECTIFICATION:
            data["decisions"] = _check_rectification_review(case)
        append_event(case, actor=actor, action="approved", data=data)
        _start_processing(case)
    return case


def decide_objection(
    case_id: int,
    *,
    upheld: bool,
    grounds: str,
    actor: str,
    activities: list[str] | None = None,
) -> Case:
    """Art. 21(1): staff weigh the person's reasons against the grounds for the processing.
    Upheld, the processing objected to stops: the systems of the ``activities`` objected to
    (keys of activities based on legitimate interests or a public task; by default all such
    activities) restrict the person's data, the others are left as they are and the
    confirmation says why. Not upheld, the person is told why, and of their right to
    complain."""
    if not grounds.strip():
        raise ReviewIncomplete("Record the grounds of the decision.")
    with transaction.atomic():
        case = _lock(case_id)
        if case.status != S.IN_REVIEW or case.type != CaseType.OBJECTION:
            raise TransitionNotAllowed(case, S.IN_PROGRESS)
        decision: dict[str, Any] = {
            "decision": "upheld" if upheld else "not_upheld",
            "decision_grounds": grounds,
        }
        if upheld:
            decision["objection_activities"] = objectionable_activities(activities)
        case.details = {**case.details, **decision}
        case.save(update_fields=["details"])
        data: dict[str, Any] = {"upheld": upheld}
        if upheld:
            data["activities"] = decision["objection_activities"]
        append_event(case, actor=actor, action="objection_decided", data=data)
        if upheld:
            _start_processing(case)
        else:
            _reject(case, reason="objection_not_upheld", actor=actor)
    return case


def objectionable_activities(keys: list[str] | None) -> list[str]:
    """The activities an upheld Art. 21(1) objection stops: those ``keys`` names, each based
    on a public task or legitimate interests (the only processing Art. 21(1) lets a person
    object to); all such activities when ``keys`` is empty."""
    eligible = dict(
        ProcessingActivity.objects.filter(legal_basis__in=OBJECTIONABLE_BASES).values_list(
            "key", "name"
        )
    )
    if not keys:
        return sorted(eligible)
    other = sorted(set(keys) - set(eligible))
    if other:
        raise ReviewIncomplete(
            "An objection under Art. 21(1) concerns only processing based on a public task or "
            f"legitimate interests; not: {', '.join(other)}."
        )
    return sorted(set(keys))


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
    _stop_work(case)
    queue_email(case, "rejected")


def request_information(case_id: int, *, what: str, actor: str) -> Case:
    """Art. 12(6): with reasonable doubts about the person's identity, ask only for what is
    needed to confirm it — at any point of an open case, also while the systems work (they
    finish, but the answer waits). The case waits for the person's answer; whether the
    deadline waits too is the controller's rule (DSAR_INFORMATION_PAUSES_DEADLINE)."""
    if not what.strip():
        raise ReviewIncomplete("Say what information you need.")
    with transaction.atomic():
        case = _lock(case_id)
        if case.status == S.AWAITING_VERIFICATION:
            raise TransitionNotAllowed(case, S.AWAITING_INFORMATION)
        case.details = {**case.details, "information_requested": what}
        case.details.pop("information_provided", None)
        case.save(update_fields=["details"])
        if case.status == S.AWAITING_INFORMATION:  # a new question replaces the unanswered one
            append_event(case, actor=actor, action="information_requested")
        else:
            _move(case, S.AWAITING_INFORMATION, actor=actor, action="information_requested")
        queue_email(case, "information_request")
    return case


def provide_information(case_id: int, *, answer: str, today: dt.date | None = None) -> Case:
    """The person answered; the case goes back to staff for review. Where the controller's
    rule is that the clock waits for the answer, the deadline moves by the days waited."""
    today = today or timezone.localdate()
    with transaction.atomic():
        case = _lock(case_id)
        if case.status != S.AWAITING_INFORMATION:
            raise TransitionNotAllowed(case, S.IN_REVIEW)
        case.details = {**case.details, "information_provided": answer}
        data: dict[str, Any] = {}
        fields = ["details"]
        if settings.DSAR["INFORMATION_PAUSES_DEADLINE"]:
            asked = case.events.filter(action="information_requested").order_by("-seq").first()
            waited = (today - timezone.localdate(asked.created_at)).days if asked else 0
            if waited > 0:
                previous = case.due_date
                case.due_date = previous + dt.timedelta(days=waited)
                paused = int(case.details.get("deadline_paused_days") or 0) + waited
                case.details["deadline_paused_days"] = paused
                fields.append("due_date")
                data = {"paused_days": waited, "from": previous.isoformat()}
                data["to"] = case.due_date.isoformat()
        case.save(update_fields=fields)
        _move(case, S.IN_REVIEW, actor=SUBJECT, action="information_provided", data=data)
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
        queue_email(case, "restriction_lift")


def _start_processing(case: Case) -> None:
    """Create a run per enabled system; each is published once the transaction commits."""
    if is_marketing_objection(case):
        # Art. 21(3) is absolute: the address is suppressed before any system is even asked.
        suppress(case.email, reference=case.reference)
    created = runs.create_runs(case)
    pending = [run for run in created if run.status == RunStatus.PENDING]
    data: dict[str, Any] = {"systems": sorted(run.system.key for run in pending)}
    not_concerned = sorted(run.system.key for run in created if run.outcome == OutcomeKind.NOT_USED)
    if not_concerned:
        data["not_concerned"] = not_concerned
    _move(case, S.IN_PROGRESS, actor=SYSTEM, action="processing_started", data=data)
    for run in pending:
        queue.run_soon(run.pk)
    # Nothing left to run (no system, or a case resumed after the person's answer): move on.
    _settle(case, actor=SYSTEM)


def _settle(case: Case, *, actor: str) -> None:
    """With the case locked: move it on as its runs allow — to awaiting_manual while only
    manual work remains, to completed when every run is done, unless the answer holds records
    that may carry other people's data: then to third_party_review, until staff release it.
    A failed run holds it open."""
    if case.status not in (S.IN_PROGRESS, S.AWAITING_MANUAL):
        return
    statuses = set(case.runs.values_list("status", flat=True))
    if statuses & {RunStatus.PENDING, RunStatus.RUNNING, RunStatus.FAILED}:
        return
    if RunStatus.WAITING_MANUAL in statuses:
        if case.status == S.IN_PROGRESS:
            _move(case, S.AWAITING_MANUAL, actor=actor, action="waiting_for_manual_work")
        return
    held = redactions.held_for_review(case)
    if held:
        # Art. 15(4): records that may hold other people's data wait for staff to read them.
        _move(
            case,
            S.THIRD_PARTY_REVIEW,
            actor=actor,
            action="third_party_review_required",
            data={"records": held},
        )
        return
    _move(case, S.COMPLETED, actor=actor, action="completed")
    _add_job(case, JobKind.DELIVERABLES)


def send_answer(case_id: int) -> None:
    """The completed case's files are built: email the person the link to them, once."""
    with transaction.atomic():
        case = _lock(case_id)
        if case.status != S.COMPLETED:
            return
        already = (
            EmailDelivery.objects.filter(case=case, kind="completed")
            .exclude(state=DeliveryState.CANCELLED)
            .exists()
        )
        if already:
            return
        queue_email(case, "completed")
        append_event(case, actor=SYSTEM, action="answer_sent")


def rebuild_files(case_id: int, *, actor: str) -> None:
    """Staff asked for a completed case's files again (after a fix): build them anew, send
    nothing."""
    with transaction.atomic():
        case = _lock(case_id)
        append_event(case, actor=actor, action="rebuild_requested")
        _add_job(case, JobKind.REBUILD, key=timezone.now().isoformat())


def redact_record(
    case_id: int,
    *,
    run_id: int,
    line: int,
    withheld: bool,
    fields: Mapping[redactions.FieldPath, str],
    reason: str,
    actor: str,
    user_id: int | None = None,
) -> None:
    """Art. 15(4): staff withhold a record that may hold other people's data, or replace some
    of its fields (given by path) by a redacted text, with the reason. Saving a record with
    nothing withheld or changed removes an earlier redaction. The result file stays as it is;
    the redaction is applied when the answer is built. Raises RedactionInvalid or
    ReviewIncomplete with what to fix."""
    with transaction.atomic():
        case = _lock(case_id)
        if case.status != S.THIRD_PARTY_REVIEW:
            raise TransitionNotAllowed(case, case.status)
        run = case.runs.select_related("system").get(pk=run_id)
        record = redactions.find_record(run, line)
        changed = redactions.changed_fields(record, fields)
        data = {"system": run.system.key, "category": record.category, "record": line}
        if not withheld and not changed:
            if Redaction.objects.filter(run=run, line=line).delete()[0]:
                append_event(case, actor=actor, action="redaction_removed", data=data)
            return
        if not reason.strip():
            raise ReviewIncomplete("Say why the record is withheld or redacted.")
        Redaction.objects.update_or_create(
            run=run,
            line=line,
            defaults={
                "line_sha256": record.sha256,
                "category": record.category,
                "withheld": withheld,
                "fields": [] if withheld else changed,
                "reason": reason.strip(),
                "created_by_id": user_id,
                "created_at": timezone.now(),
            },
        )
        append_event(
            case,
            actor=actor,
            action="record_redacted",
            data={**data, "withheld": withheld, "fields": 0 if withheld else len(changed)},
        )


def release_answer(case_id: int, *, actor: str) -> Case:
    """Staff reviewed the records that may hold other people's data: the answer is built with
    their redactions and sent. Each run records how many of its records were withheld or
    redacted, for the documents to tell the person."""
    with transaction.atomic():
        case = _lock(case_id)
        if case.status != S.THIRD_PARTY_REVIEW:
            raise TransitionNotAllowed(case, S.COMPLETED)
        totals = {"withheld": 0, "redacted": 0}
        for run in redactions.review_runs(case):
            summary = redactions.review_summary(run)
            run.outcome_data = {**run.outcome_data, "third_party": summary}
            run.save(update_fields=["outcome_data"])
            for key, count in summary.items():
                totals[key] += count
        _move(case, S.COMPLETED, actor=actor, action="answer_released", data=totals)
        _add_job(case, JobKind.DELIVERABLES)
    return case


def send_download_code(link_id: int) -> None:
    """The person asked for a one-time code to open their download link."""
    from .models import DownloadLink

    with transaction.atomic():
        link = DownloadLink.objects.get(pk=link_id)
        case = _lock(link.case_id)
        cancel_pending(case, "download_code")
        append_event(case, actor=SUBJECT, action="download_code_requested")
        queue_email(case, "download_code", args={"link": link.pk})


def send_reminder(case_id: int, *, actor: str) -> None:
    """Remind the assignee (or the team) of the case now."""
    with transaction.atomic():
        case = _lock(case_id)
        days_left = case.days_left()
        append_event(
            case,
            actor=actor,
            action="reminder_sent",
            data={"date": timezone.localdate().isoformat(), "days_left": days_left},
        )
        queue_email(case, "reminder", args={"days_left": days_left})


def settle_case(case_id: int, *, actor: str = SYSTEM) -> Case:
    """Move a case on once its runs allow (see ``_settle``)."""
    with transaction.atomic():
        case = _lock(case_id)
        _settle(case, actor=actor)
    return case


def finish_run(report: runs.RunReport) -> None:
    """Record a run's final result and move its case on, in one transaction: the run's status
    and outcome, its last attempt, the event, the Art. 19 notices where something changed, the
    manual task where staff must act, an alert where the run failed, and the case's next step."""
    now = timezone.now()
    with transaction.atomic():
        run = SystemRun.objects.select_related("system").get(pk=report.run_id)
        case = _lock(run.case_id)
        run = SystemRun.objects.select_for_update().select_related("system").get(pk=run.pk)
        if run.status != RunStatus.RUNNING:
            return  # recorded already (a duplicate delivery of the same attempt)
        run.status = report.status
        run.outcome = report.kind
        run.outcome_data = report.outcome
        run.last_error = report.error
        run.lease_until = None
        run.finished_at = now
        run.cursor = {}
        if run.started_at:
            run.duration_ms = int((now - run.started_at).total_seconds() * 1000)
        run.save()
        RunAttempt.objects.filter(pk=report.attempt_id).update(
            state=AttemptState.FAILED
            if report.status == RunStatus.FAILED
            else AttemptState.SUCCEEDED,
            finished_at=now,
            outcome=report.kind,
            error=report.error,
        )
        data: dict[str, Any] = {
            "system": run.system.key,
            "action": run.action,
            "attempts": run.attempts,
        }
        if report.kind:
            data["outcome"] = report.kind
        if report.error:
            data["error"] = report.error
        if counts := report.outcome.get("details", {}).get("counts"):
            data["counts"] = counts
        append_event(case, actor=SYSTEM, action=f"run_{report.status}", data=data)
        if report.status == RunStatus.WAITING_MANUAL:
            _ask_for_manual_work(
                case,
                run,
                team=report.manual_team,
                instructions=report.manual_instructions,
                team_email=report.manual_team_email,
            )
        elif report.status == RunStatus.FAILED:
            queue_email(
                case,
                "staff_alert",
                args={"what": f"{run.system.name} failed: {report.error}"[:500]},
            )
        elif report.kind in NOTIFIED_OUTCOMES:
            _notify_recipients(case, run)
        runs.release_slot(run)
        runs.hand_over_slot(run.system)
        _settle(case, actor=SYSTEM)


def _notify_recipients(case: Case, run: SystemRun) -> None:
    """Art. 19: each recipient of the system's data hears of the change, once per run, and
    only where something changed (a correction with no field changed, or a restriction that
    was in place already, tells nobody anything)."""
    data = run.outcome_data
    if run.outcome == OutcomeKind.CORRECTED and not data.get("corrections"):
        return
    if run.outcome == OutcomeKind.RESTRICTED and not data.get("changed") and not data.get("manual"):
        return
    recipients = run.system.notice_recipients()
    for recipient in recipients:
        exists = EmailDelivery.objects.filter(
            case=case, kind="recipient_notice", to_other=recipient.email, args__run=run.pk
        ).exists()
        if not exists:
            queue_email(
                case,
                "recipient_notice",
                to_other=recipient.email,
                args={"run": run.pk, "name": recipient.name},
            )
    if recipients:
        append_event(
            case,
            actor=SYSTEM,
            action="recipients_notified",
            data={
                "system": run.system.key,
                "action": run.action,
                "outcome": run.outcome,
                "recipients": len(recipients),
            },
        )


def _ask_for_manual_work(
    case: Case, run: SystemRun, *, team: str, instructions: str, team_email: str
) -> None:
    """A manual task for the team, with what it needs to know, and an email telling it."""
    from .rights import request_day, retention_obligations

    if run.action == "erase":
        kept = retention_obligations(run.system, on=request_day(run.case))
        if kept:
            # Several activities of a system may share a duty: name each once. When to delete
            # depends on each record's own year, which staff give when they complete the task.
            duties = dict.fromkeys(item.obligation for item in kept)
            instructions += (
                "\n\nRecords that a legal duty obliges us to keep are restricted, not deleted: "
                + "; ".join(duties)
                + ". Record which ones you kept, the duty and the year they were made."
            )
    if run.action == "rectify":
        changes = runs.approved_changes(case)
        if changes:
            labels = dict(RectificationField.choices)
            instructions += (
                "\n\nApproved corrections: "
                + "; ".join(
                    f"{labels.get(field, field)} \u2192 \u201c{value}\u201d"
                    for field, value in changes.items()
                )
                + "."
            )
    task, created = ManualTask.objects.get_or_create(
        run=run, defaults={"team": team, "instructions": instructions}
    )
    if created:
        queue_email(
            case,
            "manual_task",
            to_other=team_email or settings.DSAR["TEAM_EMAIL"],
            args={"task": task.pk},
        )


def complete_manual_task(
    task_id: int, *, result: ManualResult, actor: str, user_id: int | None
) -> None:
    """Staff record what they found or did, in the outcome vocabulary, with what they found
    attached; the run succeeds, recipients hear of a change (Art. 19), and the case moves on —
    one transaction. Raises ManualResultInvalid with what to fix."""
    from .retention import retention_end

    now = timezone.now()
    with transaction.atomic():
        task = ManualTask.objects.select_related("run__system").get(pk=task_id)
        case = _lock(task.run.case_id)
        task = (
            ManualTask.objects.select_for_update()
            .select_related("run__system", "run__case")
            .get(pk=task_id)
        )
        if task.status == ManualTaskStatus.DONE:
            return
        if not case.is_open:
            # Its files are deleted once the case closes: nothing more is stored for it.
            raise TransitionNotAllowed(case, case.status)
        manual.check(task, result)
        counts = manual.store_findings(task, result, user_id=user_id)
        retained: list[dict[str, Any]] = []
        if result.result == OutcomeKind.RETAINED:
            # manual.check made sure both are given.
            assert result.retention_rule_id is not None  # nosec B101  # narrows the type
            assert result.record_year is not None  # nosec B101  # narrows the type
            rule = RetentionRule.objects.get(pk=result.retention_rule_id)
            until = retention_end(rule, dt.date(result.record_year, 12, 31))
            retained.append(
                {
                    "records": result.kept_records.strip(),
                    "record_year": result.record_year,
                    "rule": rule.key,
                    "obligation": rule.citation,
                    "until": until.isoformat(),
                }
            )
        task.status = ManualTaskStatus.DONE
        task.result = result.result
        task.data_found = result.found
        task.categories = "\n".join(result.categories)
        task.kept_records = result.kept_records.strip()
        task.record_year = result.record_year
        task.retention_rule_id = result.retention_rule_id
        task.note_to_person = result.note_to_person.strip()
        task.internal_note = result.internal_note.strip()
        task.completed_at = now
        task.completed_by_id = user_id
        task.save()
        run = task.run
        run.status = RunStatus.SUCCEEDED
        run.finished_at = now
        run.outcome = result.result
        run.outcome_data = {
            "action": run.action,
            "kind": result.result,
            "summary": "completed by staff",
            "manual": True,
            "categories": result.categories,
            "retained": retained,
            "refusal": result.refusal.strip(),
            "note_to_person": task.note_to_person,
            "details": {"counts": counts},
        }
        if run.action == "rectify" and result.result == OutcomeKind.CORRECTED:
            run.outcome_data["corrections"] = [
                {"field": field, "old": "", "new": value}
                for field, value in runs.approved_changes(case).items()
            ]
        run.save(update_fields=["status", "finished_at", "outcome", "outcome_data"])
        append_event(
            case,
            actor=actor,
            action="manual_task_completed",
            data={"system": run.system.key, "action": run.action, "outcome": result.result},
        )
        if result.result in NOTIFIED_OUTCOMES:
            _notify_recipients(case, run)
        _settle(case, actor=actor)


def retry_run(run_id: int, *, actor: str) -> None:
    """Run a failed system again (after its configuration or the system itself was fixed)."""
    with transaction.atomic():
        run = SystemRun.objects.select_related("system").get(pk=run_id)
        case = _lock(run.case_id)
        updated = SystemRun.objects.filter(pk=run_id, status=RunStatus.FAILED).update(
            status=RunStatus.PENDING,
            failures=0,
            lease_until=None,
            finished_at=None,
            not_before=None,
            queued_at=None,
            outcome="",
            outcome_data={},
            cursor={},
        )
        if updated != 1:
            return
        append_event(
            case,
            actor=actor,
            action="run_retried",
            data={"system": run.system.key, "action": run.action},
        )
        queue.run_soon(run_id)


def expire_case(case_id: int, *, now: dt.datetime | None = None) -> Case:
    """Close a case whose requester never confirmed it."""
    with transaction.atomic():
        case = _lock(case_id)
        _move(case, S.EXPIRED, actor=SYSTEM, action="expired", now=now)
        _stop_work(case)
    return case


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
        paused = dt.timedelta(days=int(case.details.get("deadline_paused_days") or 0))
        case.due_date = first_month_ends + relativedelta(months=months) + paused
        case.extension_months = months
        case.extension_reason = reason
        case.save(update_fields=["due_date", "extension_months", "extension_reason"])
        append_event(
            case,
            actor=actor,
            action="deadline_extended",
            data={"from": previous.isoformat(), "to": case.due_date.isoformat(), "months": months},
        )
        queue_email(case, "extended")
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
        _stop_work(case)
    return case


def _stop_work(case: Case) -> None:
    """A closed case's pending work ends: runs not started are not started, and unsent
    emails to the person other than the one telling them of the closing are cancelled."""
    case.runs.filter(status=RunStatus.PENDING).update(
        status=RunStatus.FAILED, last_error="The case was closed before this system ran."
    )
    EmailDelivery.objects.filter(
        case=case, state__in=[DeliveryState.QUEUED, DeliveryState.FAILED_TRANSIENT]
    ).exclude(kind__in=["rejected", "recipient_notice"]).update(
        state=DeliveryState.CANCELLED, sealed=b""
    )


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
            reference=next_reference(timezone.localdate(received_at).year),
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
        submitted = append_event(
            case,
            actor=actor,
            action="submitted",
            data={
                "type": case_type,
                "language": language,
                "due_date": case.due_date.isoformat(),
                "channel": channel,
            },
            after=None,
        )
        _note_marketing_objection(case, after=submitted)
        if not identity_checked:
            queue_email(case, "verification")
            return case
        case.verified_at = now
        case.verification_method = "staff"
        case.save(update_fields=["verified_at", "verification_method"])
        _move(case, S.VERIFIED, actor=actor, action="identity_checked", now=now)
        _after_verification(case, now=now)
    return case


def flag_marketing_consent(
    entry_id: int, *, system: str, subscriptions: list[dict[str, Any]], now: dt.datetime
) -> bool:
    """A marketing system shows that a person who objected to direct marketing subscribed
    again themselves (a confirmed double opt-in): a new consent, which nothing overrides. The
    case of the objection records it, and staff are asked to confirm it (Art. 7(1): the
    controller must be able to show the consent). Once per opt-in; False if already flagged."""
    entry = SuppressionEntry.objects.get(pk=entry_id)
    case = Case.objects.filter(reference=entry.reference).first()
    with transaction.atomic():
        if case is not None:
            case = _lock(case.pk)
        entry = SuppressionEntry.objects.select_for_update().get(pk=entry_id)
        if entry.consent_found_at is not None or entry.lifted_at is not None:
            return False
        entry.consent_found_at = now
        entry.save(update_fields=["consent_found_at"])
        if case is not None:
            append_event(
                case,
                actor=SYSTEM,
                action="marketing_consent_found",
                data={"system": system, "subscriptions": subscriptions},
            )
            queue_email(
                case,
                "staff_alert",
                args={"what": "the person subscribed to marketing again: confirm the consent"},
            )
    return True


def decide_marketing_consent(case_id: int, *, confirmed: bool, note: str, actor: str) -> Case:
    """Staff decide on a new opt-in the person made after objecting to direct marketing.
    Confirmed (the person wants the marketing), the objection ends and the subscription stays;
    not confirmed, the next check of the marketing systems undoes it."""
    if not note.strip():
        raise ReviewIncomplete("Say how you confirmed it, or why not.")
    with transaction.atomic():
        case = _lock(case_id)
        entry = (
            SuppressionEntry.objects.select_for_update()
            .filter(reference=case.reference, lifted_at__isnull=True)
            .exclude(consent_found_at=None)
            .first()
        )
        if entry is None:
            raise TransitionNotAllowed(case, case.status)
        now = timezone.now()
        entry.consent_decided_at = now
        entry.consent_found_at = None
        if confirmed:
            entry.lifted_at = now
        entry.save(update_fields=["consent_decided_at", "consent_found_at", "lifted_at"])
        case.details = {**case.details, "marketing_consent_note": note}
        case.save(update_fields=["details"])
        append_event(
            case, actor=actor, action="marketing_consent_decided", data={"confirmed": confirmed}
        )
    return case
