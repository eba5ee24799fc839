"""Case references (``DSAR-2026-000123``): the year of receipt and a number no other case has.

On PostgreSQL the numbers come from one sequence (``dsar_case_reference``, created by migration
0020 after the last number the counter rows had handed out): ``nextval`` takes no row lock, so
concurrent submissions do not wait for each other's transactions as they did on the year's
counter row. The numbers go on across years instead of starting again at 1, and a submission
that rolls back leaves a gap (a sequence is not transactional): a reference only has to be
unique and to say when the request came in.

On SQLite (the demo), which writes one transaction at a time anyway, the year's counter row
(``ReferenceCounter``) still counts.

``next_case_numbers`` asks more of the database in the same round trip: a new case's submission
needs its id, its reference and whether the address objected to direct marketing, and each
statement costs the form a round trip and its share of the server's CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from django.db import connection

from .inserts import prepared_cursor
from .models import Case, ReferenceCounter

SEQUENCE = "dsar_case_reference"


def format_reference(year: int, number: int) -> str:
    return f"DSAR-{year}-{number:06d}"


def next_reference(year: int) -> str:
    """A new reference for a case received in ``year`` (the caller is inside a transaction)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval(%s)", [SEQUENCE])
            number: int = cursor.fetchone()[0]
        return format_reference(year, number)
    counter, _ = ReferenceCounter.objects.select_for_update().get_or_create(year=year)
    counter.last += 1
    counter.save(update_fields=["last"])
    return format_reference(year, counter.last)


class CaseNumbers(NamedTuple):
    """What a new case needs from the database before its rows are written."""

    case_id: int | None  # None where the id comes from the case's own INSERT (SQLite)
    reference: str
    objected: bool  # whether ``exists`` found a row


def next_case_numbers(year: int, *, exists: tuple[str, Sequence[Any]]) -> CaseNumbers:
    """A new case's id and reference for a case received in ``year``, and whether the query
    ``exists`` (its SQL and values) finds a row: on PostgreSQL in one statement, so that the
    case and its first event (whose hash covers the case's id) can then be written in one more
    (``dsar.inserts``). Elsewhere the caller is inside a transaction and the id comes from the
    case's INSERT."""
    sql, params = exists
    if connection.vendor == "postgresql":
        with prepared_cursor(connection) as cursor:
            cursor.execute(
                f"SELECT nextval(pg_get_serial_sequence(%s, 'id')), nextval(%s), EXISTS({sql})",
                [Case._meta.db_table, SEQUENCE, *params],
            )
            case_id, number, found = cursor.fetchone()
        return CaseNumbers(case_id, format_reference(year, number), bool(found))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT EXISTS({sql})", params)
        [found] = cursor.fetchone()
    return CaseNumbers(None, next_reference(year), bool(found))
