"""The case state machine: each allowed change works and writes an event; others are refused."""

from __future__ import annotations

import datetime as dt
import itertools
import re

import pytest
from django.db import transaction
from django.utils import timezone

from dsar import housekeeping, transitions
from dsar.events import SYSTEM, verify_chain
from dsar.models import Case, CaseStatus, Event
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db

ALL_PAIRS = list(itertools.product(CaseStatus.values, CaseStatus.values))


@pytest.mark.parametrize(("start", "to"), ALL_PAIRS)
def test_every_transition_is_allowed_or_refused_as_the_design_says(start: str, to: str) -> None:
    case = CaseFactory(status=start)
    allowed = to in transitions.ALLOWED[start]
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        if allowed:
            transitions._move(locked, to, actor=SYSTEM, action="test")
        else:
            with pytest.raises(transitions.TransitionNotAllowed):
                transitions._move(locked, to, actor=SYSTEM, action="test")
    case.refresh_from_db()
    assert case.status == (to if allowed else start)
    events = list(Event.objects.filter(case=case))
    assert len(events) == (1 if allowed else 0)
    if allowed:
        assert events[0].data == {"from": start, "to": to}
        assert (case.closed_at is not None) == (to in transitions.CLOSED)


def test_the_design_allows_exactly_these_paths() -> None:
    s = CaseStatus
    assert transitions.ALLOWED[s.AWAITING_VERIFICATION] == {
        s.VERIFIED,
        s.EXPIRED,
        s.REJECTED,
        s.CANCELLED,
    }
    assert s.EXPIRED not in transitions.ALLOWED[s.VERIFIED]  # only never-verified cases expire
    for closed in transitions.CLOSED:
        assert transitions.ALLOWED[closed] == frozenset()


def test_submit_saves_the_case_with_a_reference_due_date_and_first_event(
    django_capture_on_commit_callbacks,
) -> None:
    now = dt.datetime(2026, 1, 31, 10, 0, tzinfo=dt.UTC)
    with django_capture_on_commit_callbacks() as callbacks:
        case = transitions.submit_case(
            case_type="erasure", email="a@example.com", name="A", language="de", now=now
        )
    assert re.fullmatch(r"DSAR-2026-\d{6,}", case.reference)
    assert case.due_date == dt.date(2026, 2, 28)
    assert case.status == CaseStatus.AWAITING_VERIFICATION
    assert [e.action for e in case.events.all()] == ["submitted"]
    assert len(callbacks) == 1  # the verification email, queued only once the case is committed
    second = transitions.submit_case(
        case_type="access", email="b@example.com", name="B", language="en", now=now
    )
    # The next number (on PostgreSQL from a sequence, which a rolled-back test does not reset).
    assert int(second.reference.rsplit("-", 1)[1]) == int(case.reference.rsplit("-", 1)[1]) + 1


def test_submit_refuses_an_unknown_type_and_saves_nothing() -> None:
    with pytest.raises(ValueError, match="unknown request type"):
        transitions.submit_case(case_type="sell", email="a@example.com", name="A", language="en")
    assert Case.objects.count() == 0


def test_expiry_closes_only_cases_unverified_for_longer_than_the_limit(settings) -> None:
    settings.DSAR = {**settings.DSAR, "UNVERIFIED_CASE_TTL_DAYS": 14}
    now = timezone.now()
    stale = CaseFactory(received_at=now - dt.timedelta(days=15))
    fresh = CaseFactory(received_at=now - dt.timedelta(days=13))
    verified = CaseFactory(received_at=now - dt.timedelta(days=20), status=CaseStatus.VERIFIED)

    assert housekeeping.expire_unverified_cases(now=now) == 1

    stale.refresh_from_db()
    fresh.refresh_from_db()
    verified.refresh_from_db()
    assert stale.status == CaseStatus.EXPIRED
    assert stale.events.get().actor == SYSTEM
    assert fresh.status == CaseStatus.AWAITING_VERIFICATION
    assert verified.status == CaseStatus.VERIFIED
    assert verify_chain(stale.pk) is None


@pytest.mark.parametrize(("pauses", "moved"), [(False, 0), (True, 5)])
def test_the_deadline_waits_for_the_persons_answer_only_where_the_controller_says_so(
    settings, pauses: bool, moved: int
) -> None:
    settings.DSAR = {**settings.DSAR, "INFORMATION_PAUSES_DEADLINE": pauses}
    case = CaseFactory(status=CaseStatus.IN_PROGRESS, verified_at=timezone.now())
    due = case.due_date
    transitions.request_information(case.pk, what="Your customer number?", actor="staff:a")

    answered = transitions.provide_information(
        case.pk, answer="C-1001", today=timezone.localdate() + dt.timedelta(days=5)
    )

    assert answered.status == CaseStatus.IN_REVIEW
    assert answered.due_date == due + dt.timedelta(days=moved)
    event = answered.events.get(action="information_provided")
    assert event.data.get("paused_days", 0) == moved
