"""Statutory retention: which rules keep a system's records, and when a record's period ends.

A period runs from the record's own date (the invoice's, the letter's, the last wage payment's),
not from the day someone asks for erasure; see ``RetentionRule.ends_on``. A manual task lets
staff pick one of ``rules_for_system`` and the record's date, and ``retention_end`` gives the day
the record may go.
"""

from __future__ import annotations

import datetime as dt

from .models import DataSystem, RetentionRule


def retention_end(rule: RetentionRule, record_date: dt.date) -> dt.date:
    """The last day a record of ``record_date`` must be kept under ``rule``."""
    return rule.ends_on(record_date)


def rules_for_system(system: DataSystem) -> list[RetentionRule]:
    """The statutory rules of every activity the system serves, each once, longest first."""
    return list(
        RetentionRule.objects.filter(activities__systems=system)
        .distinct()
        .order_by("-years", "key")
    )
