"""The one-month deadline of Art. 12(3), counted in calendar months in the controller's zone."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from dsar.deadlines import due_date_for

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (dt.date(2026, 1, 15), dt.date(2026, 2, 15)),
        (dt.date(2026, 1, 31), dt.date(2026, 2, 28)),
        (dt.date(2028, 1, 31), dt.date(2028, 2, 29)),  # leap year
        (dt.date(2028, 1, 29), dt.date(2028, 2, 29)),
        (dt.date(2026, 3, 31), dt.date(2026, 4, 30)),
        (dt.date(2026, 5, 31), dt.date(2026, 6, 30)),
        (dt.date(2026, 12, 31), dt.date(2027, 1, 31)),
        (dt.date(2026, 2, 28), dt.date(2026, 3, 28)),
    ],
)
def test_due_date_is_the_same_day_next_month_or_its_last_day(
    received: dt.date, due: dt.date
) -> None:
    received_at = dt.datetime(received.year, received.month, received.day, 12, 0, tzinfo=BERLIN)
    assert due_date_for(received_at) == due


def test_due_date_counts_the_day_in_the_controllers_time_zone() -> None:
    # 23:30 UTC on 31 January is already 1 February in Berlin.
    received_at = dt.datetime(2026, 1, 31, 23, 30, tzinfo=dt.UTC)
    assert due_date_for(received_at) == dt.date(2026, 3, 1)
