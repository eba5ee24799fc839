"""Why an open case needs the team: the reasons of one case, the filter and the counts."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dsar.attention import (
    Reason,
    attention_counts,
    case_attention_reasons,
    cases_needing_attention,
    cases_with_attention,
)
from dsar.models import Case, CaseStatus, ManualTask, RunStatus
from tests.factories import CaseFactory, SystemRunFactory

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 3, 15)


def reasons(case: Case) -> list[Reason]:
    return case_attention_reasons(case, today=TODAY)


def test_a_failed_system_needs_attention_though_the_case_says_in_progress() -> None:
    run = SystemRunFactory(status=RunStatus.FAILED, case__due_date=TODAY + dt.timedelta(20))
    SystemRunFactory(case=run.case, status=RunStatus.SUCCEEDED)

    assert run.case.status == CaseStatus.IN_PROGRESS
    assert reasons(run.case) == [Reason.FAILED_RUN]


def test_a_waiting_manual_task_needs_attention_until_it_is_done() -> None:
    run = SystemRunFactory(
        status=RunStatus.WAITING_MANUAL,
        case__status=CaseStatus.AWAITING_MANUAL,
        case__due_date=TODAY + dt.timedelta(20),
    )
    task = ManualTask.objects.create(run=run, team="Finance", instructions="Search the ERP.")
    assert reasons(run.case) == [Reason.MANUAL_TASK]

    task.status = "done"
    task.save()
    assert reasons(run.case) == []


def test_a_review_and_an_answer_from_the_person_are_told_apart() -> None:
    later = TODAY + dt.timedelta(20)
    review = CaseFactory(status=CaseStatus.IN_REVIEW, due_date=later)
    answered = CaseFactory(
        status=CaseStatus.IN_REVIEW,
        due_date=later,
        details={"information_requested": "Your customer number?", "information_provided": "42"},
    )
    waiting = CaseFactory(status=CaseStatus.AWAITING_INFORMATION, due_date=later)

    assert reasons(review) == [Reason.REVIEW]
    assert reasons(answered) == [Reason.ANSWER_RECEIVED]
    assert reasons(waiting) == []  # the person has the next move


def test_deadlines_seven_days_away_are_due_soon_and_past_ones_overdue() -> None:
    soon = CaseFactory(status=CaseStatus.IN_PROGRESS, due_date=TODAY + dt.timedelta(7))
    today = CaseFactory(status=CaseStatus.IN_PROGRESS, due_date=TODAY)
    later = CaseFactory(status=CaseStatus.IN_PROGRESS, due_date=TODAY + dt.timedelta(8))
    overdue = CaseFactory(status=CaseStatus.IN_PROGRESS, due_date=TODAY - dt.timedelta(1))

    assert reasons(soon) == [Reason.DUE_SOON]
    assert reasons(today) == [Reason.DUE_SOON]
    assert reasons(later) == []
    assert reasons(overdue) == [Reason.OVERDUE]


def test_a_closed_case_never_needs_attention() -> None:
    run = SystemRunFactory(
        status=RunStatus.FAILED,
        case__status=CaseStatus.CANCELLED,
        case__due_date=TODAY - dt.timedelta(30),
    )
    assert reasons(run.case) == []
    assert not cases_needing_attention(Case.objects.all(), today=TODAY).exists()


def test_reasons_come_most_urgent_first() -> None:
    run = SystemRunFactory(status=RunStatus.FAILED, case__due_date=TODAY - dt.timedelta(2))
    waiting = SystemRunFactory(case=run.case, status=RunStatus.WAITING_MANUAL)
    ManualTask.objects.create(run=waiting, team="HR", instructions="Look.")

    assert reasons(run.case) == [Reason.FAILED_RUN, Reason.OVERDUE, Reason.MANUAL_TASK]


def test_the_filter_and_the_counts_agree() -> None:
    failed = SystemRunFactory(status=RunStatus.FAILED, case__due_date=TODAY + dt.timedelta(20))
    review = CaseFactory(status=CaseStatus.IN_REVIEW, due_date=TODAY + dt.timedelta(3))
    CaseFactory(status=CaseStatus.IN_PROGRESS, due_date=TODAY + dt.timedelta(20))
    everyone = Case.objects.all()

    needing = set(cases_needing_attention(everyone, today=TODAY))
    assert needing == {failed.case, review}
    only_failed = cases_needing_attention(everyone, reason=Reason.FAILED_RUN, today=TODAY)
    assert list(only_failed) == [failed.case]
    counts = attention_counts(today=TODAY)
    assert counts.total == 2
    assert counts.by_reason[Reason.FAILED_RUN] == 1
    assert counts.by_reason[Reason.REVIEW] == 1
    assert counts.by_reason[Reason.DUE_SOON] == 1


def test_the_annotated_list_reads_every_reason_in_one_query() -> None:
    for _ in range(5):
        run = SystemRunFactory(status=RunStatus.FAILED, case__due_date=timezone.localdate())
        ManualTask.objects.create(run=SystemRunFactory(case=run.case), team="HR", instructions="x")

    with CaptureQueriesContext(connection) as queries:
        listed = [case_attention_reasons(c) for c in cases_with_attention(Case.objects.all())]
    assert len(queries) == 1
    assert all(Reason.FAILED_RUN in found and Reason.DUE_SOON in found for found in listed)
