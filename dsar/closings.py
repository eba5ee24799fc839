"""The dashboard's running counts of completed cases (``ClosingCount``), kept in step with the
cases by the transition that completes one.

A completed case counts once, under its type, the month it was completed in (in the
controller's time zone), its days to close (``closed_at - received_at``) to the tenth of a
day, and whether it was completed on time (its closing day on or before its due date).
Migration 0020 counted the cases completed before these counts existed, the same way.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from django.db import connection
from django.utils import timezone

from .models import Case


class ClosingKey(NamedTuple):
    type: str
    month: dt.date
    tenths: int
    on_time: bool


def closing_key(
    *, type: str, received_at: dt.datetime, closed_at: dt.datetime, due_date: dt.date
) -> ClosingKey:
    """Where a case completed at ``closed_at`` counts."""
    closed_day = timezone.localdate(closed_at)
    days = (closed_at - received_at).total_seconds() / 86400
    return ClosingKey(
        type=type,
        month=closed_day.replace(day=1),
        tenths=max(0, round(days * 10)),
        on_time=closed_day <= due_date,
    )


_UPSERT = (
    "INSERT INTO dsar_closingcount (type, month, tenths, on_time, count) "
    "VALUES (%s, %s, %s, %s, 1) "
    "ON CONFLICT (type, month, tenths, on_time) "
    "DO UPDATE SET count = dsar_closingcount.count + 1"
)


def count_closing(case: Case) -> None:
    """Count the case, just completed, in the caller's transaction (one statement: the row
    of its key is created or its count raised)."""
    assert case.closed_at is not None  # nosec B101  # completing a case sets it
    key = closing_key(
        type=case.type,
        received_at=case.received_at,
        closed_at=case.closed_at,
        due_date=case.due_date,
    )
    # Both PostgreSQL and SQLite (3.24+) know this upsert.
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT, [key.type, key.month, key.tenths, key.on_time])
