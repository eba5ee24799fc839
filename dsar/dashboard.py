"""Selectors for the privacy team's dashboard and the admin's index page: deadlines of the open
cases, what needs attention, cases per state, intake by month and how fast and how punctually
completed cases were answered.

Each selector runs one SQL query, whatever the number of cases: counts are aggregated in the
database; durations come from the running counts of completed cases per type, month and tenth of
a day (``ClosingCount``), from which medians and percentiles are computed here, since
percentiles are not portable SQL.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from dateutil.relativedelta import relativedelta
from django.db.models import Count, DateField, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from dsar.attention import AttentionCounts, attention_counts
from dsar.models import OPEN_STATUSES, Case, CaseStatus, CaseType, ClosingCount

MONTHS_SHOWN = 12


@dataclass(frozen=True)
class Bucket:
    """A range of days left until the due date; ``None`` leaves that end open."""

    key: str
    label: str | Promise
    min_days: int | None
    max_days: int | None


BUCKETS: tuple[Bucket, ...] = (
    Bucket("overdue", _("Overdue"), None, -1),
    Bucket("0-2", _("0 to 2 days"), 0, 2),
    Bucket("3-7", _("3 to 7 days"), 3, 7),
    Bucket("8-14", _("8 to 14 days"), 8, 14),
    Bucket("15+", _("15 days or more"), 15, None),
)


@dataclass(frozen=True)
class BucketCount:
    bucket: Bucket
    count: int


@dataclass(frozen=True)
class MonthCounts:
    """Cases received in one month, by request type (every type present, zeros included)."""

    month: dt.date
    by_type: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_type.values())


@dataclass(frozen=True)
class ClosingStats:
    """How completed cases of one type (or of all types, ``type`` ``"all"``) were answered.

    Days are float with one decimal; the figures are ``None`` when no case was completed.
    """

    type: str
    label: str | Promise
    completed: int
    median_days: float | None
    p90_days: float | None
    on_time: int
    on_time_percent: float | None


@dataclass(frozen=True)
class DashboardFigures:
    today: dt.date
    open_by_days_left: list[BucketCount]
    cases_by_month: list[MonthCounts]
    closing: list[ClosingStats]
    attention: AttentionCounts

    @property
    def overdue_now(self) -> int:
        return next(b.count for b in self.open_by_days_left if b.bucket.key == "overdue")

    @property
    def open_total(self) -> int:
        return sum(b.count for b in self.open_by_days_left)


def bucket_condition(bucket: Bucket, today: dt.date) -> Q:
    condition = Q()
    if bucket.min_days is not None:
        condition &= Q(due_date__gte=today + dt.timedelta(days=bucket.min_days))
    if bucket.max_days is not None:
        condition &= Q(due_date__lte=today + dt.timedelta(days=bucket.max_days))
    return condition


def open_cases_by_days_left(*, today: dt.date | None = None) -> list[BucketCount]:
    """Open cases per bucket of days left (due date minus today in the controller's time zone)."""
    today = today or timezone.localdate()
    counts = Case.objects.filter(status__in=OPEN_STATUSES).aggregate(
        **{bucket.key: Count("id", filter=bucket_condition(bucket, today)) for bucket in BUCKETS}
    )
    return [BucketCount(bucket, counts[bucket.key]) for bucket in BUCKETS]


def last_months(*, today: dt.date, count: int = MONTHS_SHOWN) -> list[dt.date]:
    """The first days of the ``count`` months up to and including today's, oldest first."""
    this_month = today.replace(day=1)
    return [this_month - relativedelta(months=back) for back in range(count - 1, -1, -1)]


def cases_by_month(*, today: dt.date | None = None) -> list[MonthCounts]:
    """Cases by month of receipt (in the controller's time zone) and type, the last 12 months."""
    today = today or timezone.localdate()
    months = last_months(today=today)
    since = timezone.make_aware(dt.datetime.combine(months[0], dt.time.min))
    rows = (
        Case.objects.filter(received_at__gte=since)
        .annotate(month=TruncMonth("received_at", output_field=DateField()))
        .values("month", "type")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts: dict[dt.date, dict[str, int]] = {
        month: dict.fromkeys(CaseType.values, 0) for month in months
    }
    for row in rows:
        if row["month"] in counts:
            counts[row["month"]][row["type"]] = row["n"]
    return [MonthCounts(month, by_type) for month, by_type in counts.items()]


def _value_at(buckets: Sequence[tuple[int, int]], rank: int) -> float:
    """The ``rank``-th smallest duration (0-based) in days, from (tenths, count) in order."""
    seen = 0
    for tenths, count in buckets:
        seen += count
        if rank < seen:
            return tenths / 10
    raise IndexError(rank)


def _stats(
    type_: str, label: str | Promise, buckets: Sequence[tuple[int, int]], on_time: int
) -> ClosingStats:
    """From durations counted per tenth of a day, in order: the median as
    ``statistics.median`` and the 90th percentile as ``statistics.quantiles(n=10,
    method="inclusive")`` (linear interpolation between the closest ranks, as numpy's default
    and spreadsheets' PERCENTILE.INC) would compute them over every duration; both rounded to
    one decimal."""
    completed = sum(count for _tenths, count in buckets)
    if not completed:
        return ClosingStats(type_, label, 0, None, None, 0, None)
    middle = completed // 2
    if completed % 2:
        median = _value_at(buckets, middle)
    else:
        median = (_value_at(buckets, middle - 1) + _value_at(buckets, middle)) / 2
    if completed == 1:
        p90 = median
    else:
        rank, delta = divmod(9 * (completed - 1), 10)
        p90 = (_value_at(buckets, rank) * (10 - delta) + _value_at(buckets, rank + 1) * delta) / 10
    return ClosingStats(
        type=type_,
        label=label,
        completed=completed,
        median_days=round(median, 1),
        p90_days=round(p90, 1),
        on_time=on_time,
        on_time_percent=round(100 * on_time / completed, 1),
    )


def closing_stats() -> list[ClosingStats]:
    """Days to close (closed_at - received_at, to the tenth of a day) and the share closed on
    time, per type and for all types (last), over every completed case.

    Read from the running counts (``ClosingCount``, kept by ``dsar.closings``): one query whose
    rows are at most types x distinct durations, however many cases were completed. A case is
    on time when its closing day in the controller's time zone is on or before its due date.
    """
    rows = (
        ClosingCount.objects.order_by()
        .values_list("type", "tenths", "on_time")
        .annotate(n=Sum("count"))
    )
    per_type: dict[str, Counter[int]] = defaultdict(Counter)
    on_time: Counter[str] = Counter()
    for type_, tenths, punctual, n in rows:
        per_type[type_][tenths] += n
        if punctual:
            on_time[type_] += n
    stats = [
        _stats(t, label, sorted(per_type[t].items()), on_time[t]) for t, label in CaseType.choices
    ]
    every = sum((per_type[t] for t in CaseType.values), Counter[int]())
    stats.append(_stats("all", _("All types"), sorted(every.items()), on_time.total()))
    return stats


@dataclass(frozen=True)
class StatusCount:
    status: str
    label: str | Promise
    count: int
    is_open: bool


def cases_by_status() -> list[StatusCount]:
    """Every case state with its number of cases, open states first (one query)."""
    counts = dict(
        Case.objects.order_by()
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    ordered = sorted(CaseStatus.choices, key=lambda choice: choice[0] not in OPEN_STATUSES)
    return [
        StatusCount(value, label, counts.get(value, 0), value in OPEN_STATUSES)
        for value, label in ordered
    ]


@dataclass(frozen=True)
class QueueCounts:
    """The open cases of one member of staff and those nobody has taken."""

    mine: int
    unassigned: int


def queue_counts(*, user_id: int | None) -> QueueCounts:
    """Open cases assigned to ``user_id`` and open cases assigned to nobody (one query)."""
    counts = Case.objects.filter(status__in=OPEN_STATUSES).aggregate(
        mine=Count("id", filter=Q(assignee_id=user_id)),
        unassigned=Count("id", filter=Q(assignee__isnull=True)),
    )
    return QueueCounts(mine=counts["mine"], unassigned=counts["unassigned"])


def dashboard_figures(*, now: dt.datetime | None = None) -> DashboardFigures:
    """Every figure of the dashboard as of ``now`` (four queries)."""
    today = timezone.localdate(now or timezone.now())
    return DashboardFigures(
        today=today,
        open_by_days_left=open_cases_by_days_left(today=today),
        cases_by_month=cases_by_month(today=today),
        closing=closing_stats(),
        attention=attention_counts(today=today),
    )
