"""Case references (``DSAR-2026-000123``): the year of receipt and a number no other case has.

On PostgreSQL the numbers come from one sequence (``dsar_case_reference``, created by migration
0020 after the last number the counter rows had handed out): ``nextval`` takes no row lock, so
concurrent submissions do not wait for each other's transactions as they did on the year's
counter row. The numbers go on across years instead of starting again at 1, and a submission
that rolls back leaves a gap (a sequence is not transactional): a reference only has to be
unique and to say when the request came in.

On SQLite (the demo), which writes one transaction at a time anyway, the year's counter row
(``ReferenceCounter``) still counts.
"""

from __future__ import annotations

from django.db import connection

from .models import ReferenceCounter

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
