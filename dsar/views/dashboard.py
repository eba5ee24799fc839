"""The privacy team's dashboard in the admin: the figures of ``dsar.dashboard`` as tables and
server-drawn SVG charts, and the same figures as CSV for the yearly accountability report."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from dsar import csvsafe
from dsar.dashboard import DashboardFigures, dashboard_figures
from dsar.models import CaseType

PERMISSION = "dsar.view_case"

# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
TYPE_COLOURS = {
    CaseType.ACCESS: "#0072b2",
    CaseType.PORTABILITY: "#e69f00",
    CaseType.RECTIFICATION: "#009e73",
    CaseType.ERASURE: "#d55e00",
    CaseType.RESTRICTION: "#cc79a7",
    CaseType.OBJECTION: "#56b4e9",
}

# Geometry of the charts, in SVG user units (the SVG scales to the page's width).
BAR_LABEL_WIDTH = 130
BAR_AREA_WIDTH = 360
BAR_ROW_HEIGHT = 30
BAR_HEIGHT = 20
MONTH_COLUMN_WIDTH = 56
MONTH_PLOT_HEIGHT = 180
MONTH_TOP = 20
MONTH_BAR_WIDTH = 34


@dataclass(frozen=True)
class HorizontalBar:
    label: str
    count: int
    y: int
    text_y: int
    width: float
    value_x: float
    overdue: bool


@dataclass(frozen=True)
class Segment:
    y: float
    height: float
    colour: str
    title: str


@dataclass(frozen=True)
class MonthColumn:
    month_label: str
    year_label: str
    total: int
    x: float
    centre: float
    total_y: float
    segments: list[Segment]


@dataclass(frozen=True)
class BucketChart:
    description: str
    width: int
    height: int
    label_x: int
    bar_x: int
    bars: list[HorizontalBar]


@dataclass(frozen=True)
class MonthChart:
    description: str
    width: int
    height: int
    baseline: int
    month_y: int
    year_y: int
    columns: list[MonthColumn]
    legend: list[tuple[str, str]]


def bucket_chart(figures: DashboardFigures) -> BucketChart:
    largest = max((b.count for b in figures.open_by_days_left), default=0) or 1
    bars = []
    for row, item in enumerate(figures.open_by_days_left):
        width = BAR_AREA_WIDTH * item.count / largest
        y = row * BAR_ROW_HEIGHT + (BAR_ROW_HEIGHT - BAR_HEIGHT) // 2
        bars.append(
            HorizontalBar(
                label=str(item.bucket.label),
                count=item.count,
                y=y,
                text_y=y + BAR_HEIGHT - 5,
                width=round(width, 1),
                value_x=round(BAR_LABEL_WIDTH + width + 6, 1),
                overdue=item.bucket.key == "overdue",
            )
        )
    parts = ", ".join(f"{bar.label}: {bar.count}" for bar in bars)
    return BucketChart(
        description=_("Open cases by days left until the due date: %(parts)s") % {"parts": parts},
        width=BAR_LABEL_WIDTH + BAR_AREA_WIDTH + 50,
        height=BAR_ROW_HEIGHT * len(bars),
        label_x=BAR_LABEL_WIDTH - 8,
        bar_x=BAR_LABEL_WIDTH,
        bars=bars,
    )


def month_chart(figures: DashboardFigures) -> MonthChart:
    largest = max((m.total for m in figures.cases_by_month), default=0) or 1
    baseline = MONTH_TOP + MONTH_PLOT_HEIGHT
    labels = dict(CaseType.choices)
    columns = []
    for index, month in enumerate(figures.cases_by_month):
        x = index * MONTH_COLUMN_WIDTH + (MONTH_COLUMN_WIDTH - MONTH_BAR_WIDTH) / 2
        top = float(baseline)
        segments = []
        month_name = date_format(month.month, "YEAR_MONTH_FORMAT")
        for type_, count in month.by_type.items():
            if not count:
                continue
            height = MONTH_PLOT_HEIGHT * count / largest
            top -= height
            segments.append(
                Segment(
                    y=round(top, 1),
                    height=round(height, 1),
                    colour=TYPE_COLOURS[CaseType(type_)],
                    title=f"{labels[type_]}, {month_name}: {count}",
                )
            )
        columns.append(
            MonthColumn(
                month_label=date_format(month.month, "M"),
                year_label=date_format(month.month, "Y"),
                total=month.total,
                x=x,
                centre=x + MONTH_BAR_WIDTH / 2,
                total_y=round(top - 5, 1),
                segments=segments,
            )
        )
    parts = ", ".join(
        f"{date_format(m.month, 'YEAR_MONTH_FORMAT')}: {m.total}" for m in figures.cases_by_month
    )
    return MonthChart(
        description=_("Cases received per month, stacked by request type: %(parts)s")
        % {"parts": parts},
        width=MONTH_COLUMN_WIDTH * len(columns),
        height=baseline + 36,
        baseline=baseline,
        month_y=baseline + 15,
        year_y=baseline + 30,
        columns=columns,
        legend=[(str(label), TYPE_COLOURS[CaseType(value)]) for value, label in CaseType.choices],
    )


def _require_permission(request: HttpRequest) -> None:
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied


@staff_member_required
def dashboard(request: HttpRequest) -> HttpResponse:
    _require_permission(request)
    figures = dashboard_figures()
    context = {
        **admin.site.each_context(request),
        "title": _("Dashboard"),
        "figures": figures,
        "type_labels": [label for _value, label in CaseType.choices],
        "bucket_chart": bucket_chart(figures),
        "month_chart": month_chart(figures),
    }
    return TemplateResponse(request, "admin/dsar/dashboard.html", context)


def _number(value: float | int | None) -> str:
    return "" if value is None else str(value)


def _month(month: dt.date) -> str:
    return month.strftime("%Y-%m")


@staff_member_required
def dashboard_csv(request: HttpRequest) -> HttpResponse:
    """The dashboard's figures, one a row: metric, type, bucket or month, value."""
    _require_permission(request)
    figures = dashboard_figures()
    response = HttpResponse(
        content_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": (
                f'attachment; filename="dsar-dashboard-{figures.today.isoformat()}.csv"'
            )
        },
    )
    writer = csvsafe.start(response)
    writer.writerow(["metric", "type", "bucket_or_month", "value"])
    for item in figures.open_by_days_left:
        writer.writerow(["open_cases_by_days_left", "all", item.bucket.key, item.count])
    writer.writerow(["overdue_now", "all", "", figures.overdue_now])
    for reason, count in figures.attention.by_reason.items():
        writer.writerow(["open_cases_needing_attention", "all", reason.value, count])
    for month in figures.cases_by_month:
        for type_, count in month.by_type.items():
            writer.writerow(["cases_received", type_, _month(month.month), count])
        writer.writerow(["cases_received", "all", _month(month.month), month.total])
    for metric, field in (
        ("completed_cases", "completed"),
        ("median_days_to_close", "median_days"),
        ("p90_days_to_close", "p90_days"),
        ("closed_on_time_percent", "on_time_percent"),
    ):
        for stats in figures.closing:
            writer.writerow([metric, stats.type, "", _number(getattr(stats, field))])
    return response
