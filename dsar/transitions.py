"""Every change of a case's state, one function per transition.

Each function locks the case, checks that the transition is allowed, changes the case, appends
the Event and schedules what follows with ``transaction.on_commit`` — all in one transaction.
Views, the admin, the API and tasks call these; nothing else sets ``Case.status``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from . import tasks
from .deadlines import due_date_for
from .events import SUBJECT, SYSTEM, append_event
from .models import Case, CaseStatus, CaseType, ReferenceCounter, Verification

S = CaseStatus

ALLOWED: dict[str, frozenset[str]] = {
    S.AWAITING_VERIFICATION: frozenset({S.VERIFIED, S.EXPIRED, S.REJECTED, S.CANCELLED}),
    S.VERIFIED: frozenset({S.IN_REVIEW, S.IN_PROGRESS, S.REJECTED, S.CANCELLED}),
    S.IN_REVIEW: frozenset({S.IN_PROGRESS, S.REJECTED, S.CANCELLED}),
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
        if case.status in CLOSED:
            raise VerificationFailed(VerificationFailed.CLOSED, case)
        if verification.used_at is not None or case.status != S.AWAITING_VERIFICATION:
            raise VerificationFailed(VerificationFailed.USED, case)
        if verification.expires_at <= now:
            raise VerificationFailed(VerificationFailed.EXPIRED, case)
        verification.used_at = now
        verification.save(update_fields=["used_at"])
        case.verified_at = now
        case.save(update_fields=["verified_at"])
        _move(case, S.VERIFIED, actor=SUBJECT, action="verified", now=now)
        case_id = case.pk
        transaction.on_commit(lambda: tasks.send_confirmation_email_task.delay(case_id))
    return case


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
