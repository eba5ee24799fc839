"""The deadline rule of Art. 12(3) GDPR: one calendar month from receipt."""

from __future__ import annotations

import datetime as dt

from dateutil.relativedelta import relativedelta
from django.utils import timezone


def due_date_for(received_at: dt.datetime) -> dt.date:
    """The same day number next month, or that month's last day when the day does not exist.

    31 January gives 28 February (29 in a leap year); the day is counted in the controller's
    time zone, because that is where the month is counted.
    """
    received_day = timezone.localdate(received_at)
    due: dt.date = received_day + relativedelta(months=1)
    return due
