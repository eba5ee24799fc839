"""The dashboard's running counts of completed cases stay what the cases themselves say."""

from __future__ import annotations

import datetime as dt
import statistics
from importlib import import_module
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection
from django.utils import timezone

from dsar import transitions
from dsar.dashboard import closing_stats
from dsar.models import Case, CaseStatus, CaseType, ClosingCount
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db


def direct_figures() -> dict[str, tuple[int, float | None, float | None, int]]:
    """(completed, median, 90th percentile, on time) per type, from every completed case."""
    figures: dict[str, tuple[int, float | None, float | None, int]] = {}
    cases = Case.objects.filter(status=CaseStatus.COMPLETED)
    for type_ in [*CaseType.values, "all"]:
        chosen = [c for c in cases if type_ in ("all", c.type)]
        days = sorted(
            round((c.closed_at - c.received_at).total_seconds() / 8640) / 10 for c in chosen
        )
        on_time = sum(timezone.localdate(c.closed_at) <= c.due_date for c in chosen)
        if not days:
            figures[type_] = (0, None, None, 0)
            continue
        p90 = days[0] if len(days) == 1 else statistics.quantiles(days, n=10, method="inclusive")[8]
        figures[type_] = (len(days), round(statistics.median(days), 1), round(p90, 1), on_time)
    return figures


def shown_figures() -> dict[str, tuple[int, float | None, float | None, int]]:
    return {s.type: (s.completed, s.median_days, s.p90_days, s.on_time) for s in closing_stats()}


def test_cases_completed_one_by_one_are_counted_as_the_cases_say_and_no_other_closing_counts() -> (
    None
):
    now = timezone.now()
    ages = [0.3, 2, 2.04, 9.5, 13, 13, 27.75, 31, 33.2, 45, 61]
    for n, days in enumerate(ages):
        case = CaseFactory(
            type=[CaseType.ACCESS, CaseType.ERASURE, CaseType.OBJECTION][n % 3],
            status=CaseStatus.IN_PROGRESS,
            received_at=now - dt.timedelta(days=days),
        )
        transitions.settle_case(case.pk)
        assert shown_figures() == direct_figures()
    # Closing without an answer (rejected, cancelled, expired) is not "completed".
    transitions.cancel_case(
        CaseFactory(status=CaseStatus.IN_PROGRESS).pk, actor="staff:someone", reason="withdrawn"
    )
    transitions.expire_case(CaseFactory(received_at=now - dt.timedelta(days=60)).pk, now=now)
    # Settling a case already completed counts nothing twice.
    transitions.settle_case(Case.objects.filter(status=CaseStatus.COMPLETED).first().pk)

    assert shown_figures() == direct_figures()
    assert shown_figures()["all"][0] == len(ages)
    assert sum(ClosingCount.objects.values_list("count", flat=True)) == len(ages)


def test_the_migration_counts_cases_completed_before_it_as_completing_them_counts_them(
    settings,
) -> None:
    settings.TIME_ZONE = "Europe/Berlin"
    now = timezone.now()
    for n, days in enumerate([0.04, 1.5, 3, 3, 17.26, 29.9, 44]):
        CaseFactory(
            type=[CaseType.ACCESS, CaseType.RECTIFICATION][n % 2],
            status=CaseStatus.COMPLETED,
            received_at=now - dt.timedelta(days=days + 1),
            closed_at=now - dt.timedelta(days=1) + dt.timedelta(hours=n * 5),
        )
    CaseFactory(status=CaseStatus.REJECTED, closed_at=now)
    counted = set(ClosingCount.objects.values_list("type", "month", "tenths", "on_time", "count"))
    ClosingCount.objects.all().delete()

    migration = import_module("dsar.migrations.0020_closing_counts_and_indexes")
    migration.count_completed_cases(apps, SimpleNamespace(connection=connection))

    assert counted
    assert (
        set(ClosingCount.objects.values_list("type", "month", "tenths", "on_time", "count"))
        == counted
    )
