"""The privacy team's dashboard: deadlines, intake by month, time to answer, as page and CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from dsar.dashboard import cases_by_month, closing_stats, open_cases_by_days_left
from dsar.models import CaseStatus, CaseType
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
TODAY = dt.date(2026, 3, 15)
NOW = dt.datetime(2026, 3, 15, 11, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _berlin(settings) -> None:
    settings.TIME_ZONE = "Europe/Berlin"


def make_cases(*, today: dt.date, now: dt.datetime) -> None:
    """3 completed access cases (2, 10, 40 days; 2 on time), 1 overdue open erasure, 6 open
    rectifications due in 0, 2, 3, 7, 8 and 20 days, 1 rejected objection long past its date."""
    closed = now - dt.timedelta(days=5)
    for days in (2, 10, 40):
        CaseFactory(
            type=CaseType.ACCESS,
            status=CaseStatus.COMPLETED,
            received_at=closed - dt.timedelta(days=days),
            closed_at=closed,
        )
    CaseFactory(
        type=CaseType.ERASURE,
        status=CaseStatus.IN_PROGRESS,
        received_at=now - dt.timedelta(days=40),
        due_date=today - dt.timedelta(days=3),
    )
    for left in (0, 2, 3, 7, 8, 20):
        CaseFactory(
            type=CaseType.RECTIFICATION,
            status=CaseStatus.IN_REVIEW,
            received_at=now,
            due_date=today + dt.timedelta(days=left),
        )
    CaseFactory(
        type=CaseType.OBJECTION,
        status=CaseStatus.REJECTED,
        received_at=now - dt.timedelta(days=40),
        closed_at=now - dt.timedelta(days=2),
        due_date=today - dt.timedelta(days=10),
    )


def by_type(stats: list) -> dict:
    return {s.type: s for s in stats}


def test_open_cases_are_counted_by_days_left_and_closed_ones_not_at_all() -> None:
    make_cases(today=TODAY, now=NOW)

    buckets = {b.bucket.key: b.count for b in open_cases_by_days_left(today=TODAY)}

    assert buckets == {"overdue": 1, "0-2": 2, "3-7": 2, "8-14": 1, "15+": 1}


def test_time_to_close_and_share_on_time_count_completed_cases_only() -> None:
    make_cases(today=TODAY, now=NOW)

    stats = by_type(closing_stats())

    access = stats["access"]
    assert (access.completed, access.median_days, access.p90_days) == (3, 10.0, 34.0)
    assert (access.on_time, access.on_time_percent) == (2, 66.7)
    assert stats["erasure"].completed == 0
    assert stats["erasure"].median_days is None
    assert stats["erasure"].on_time_percent is None
    assert stats["objection"].completed == 0
    assert (stats["all"].completed, stats["all"].on_time_percent) == (3, 66.7)


def test_a_case_closed_after_local_midnight_past_its_due_date_is_late() -> None:
    due = dt.date(2026, 3, 10)
    # 00:30 in Berlin on the 11th is still the 10th in UTC.
    CaseFactory(
        status=CaseStatus.COMPLETED,
        received_at=dt.datetime(2026, 2, 10, 12, tzinfo=BERLIN),
        due_date=due,
        closed_at=dt.datetime(2026, 3, 11, 0, 30, tzinfo=BERLIN),
    )
    CaseFactory(
        status=CaseStatus.COMPLETED,
        received_at=dt.datetime(2026, 2, 10, 12, tzinfo=BERLIN),
        due_date=due,
        closed_at=dt.datetime(2026, 3, 10, 23, 30, tzinfo=BERLIN),
    )

    access = by_type(closing_stats())["access"]

    assert (access.completed, access.on_time, access.on_time_percent) == (2, 1, 50.0)


def test_cases_are_counted_by_local_month_of_receipt_over_the_last_12_months() -> None:
    make_cases(today=TODAY, now=NOW)
    # 23:30 on 31 March 2025 in Berlin: before the window. 00:30 on 1 April: its first month.
    CaseFactory(received_at=dt.datetime(2025, 3, 31, 23, 30, tzinfo=BERLIN))
    CaseFactory(received_at=dt.datetime(2025, 4, 1, 0, 30, tzinfo=BERLIN))

    months = cases_by_month(today=TODAY)

    assert [m.month for m in months][:2] == [dt.date(2025, 4, 1), dt.date(2025, 5, 1)]
    assert months[-1].month == dt.date(2026, 3, 1)
    totals = {m.month: m.total for m in months if m.total}
    assert totals == {
        dt.date(2025, 4, 1): 1,
        dt.date(2026, 1, 1): 1,
        dt.date(2026, 2, 1): 3,
        dt.date(2026, 3, 1): 7,
    }
    march = months[-1].by_type
    assert (march["access"], march["rectification"], march["erasure"]) == (1, 6, 0)
    february = months[-2].by_type
    assert (february["access"], february["erasure"], february["objection"]) == (1, 1, 1)


@pytest.fixture
def live_cases() -> None:
    """The known cases around the real today, which the views use."""
    make_cases(today=timezone.localdate(), now=timezone.now())


def row(header: str, *cells: object) -> str:
    return f'<th scope="row">{header}</th>' + "".join(
        f'<td class="number">{cell}</td>' for cell in cells
    )


def test_the_dashboard_shows_the_figures_in_tables_and_charts(admin_client, live_cases) -> None:
    response = admin_client.get(reverse("dsar_dashboard"))

    assert response.status_code == 200
    html = re.sub(r">\s+<", "><", response.content.decode())
    assert "<h1>Dashboard</h1>" in html
    assert "1 case is overdue now." in html
    assert "7 cases are open." in html
    queue = reverse("admin:dsar_case_changelist")
    for header, key, count in [
        ("Overdue", "overdue", 1),
        ("0 to 2 days", "0-2", 2),
        ("3 to 7 days", "3-7", 2),
        ("8 to 14 days", "8-14", 1),
        ("15 days or more", "15+", 1),
    ]:
        # Each number links to the open cases behind it.
        assert (
            f'<th scope="row">{header}</th><td class="number"><a href="{queue}?due={key}">{count}<'
        ) in html
    assert row("Access", 3, "10.0", "34.0", "66.7") in html
    assert row("Erasure", 0, "—", "—", "—") in html
    assert row("All types", 3, "10.0", "34.0", "66.7") in html

    charts = re.findall(r'<svg class="dashboard-chart" role="img" aria-label="([^"]+)"', html)
    assert len(charts) == 2
    assert (
        "Overdue: 1, 0 to 2 days: 2, 3 to 7 days: 2, 8 to 14 days: 1, 15 days or more: 1"
        in charts[0]
    )
    assert charts[1].startswith("Cases received per month")
    this_month = date_format(timezone.localdate(), "YEAR_MONTH_FORMAT")
    assert f"<title>Rectification, {this_month}: 6</title>" in html
    assert '">2</text>' in html  # a bar's number, written beside it
    assert reverse("dsar_dashboard_csv") in html


def test_the_dashboard_speaks_german(admin_client, live_cases) -> None:
    response = admin_client.get(reverse("dsar_dashboard"), HTTP_ACCEPT_LANGUAGE="de")

    html = response.content.decode()
    assert 'lang="de"' in html
    assert "66,7" in html


def test_the_csv_holds_the_same_figures(admin_client, live_cases) -> None:
    today = timezone.localdate()

    response = admin_client.get(reverse("dsar_dashboard_csv"))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == (
        f'attachment; filename="dsar-dashboard-{today.isoformat()}.csv"'
    )
    assert response.content.startswith("\ufeff".encode())  # spreadsheets read it as UTF-8
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["metric", "type", "bucket_or_month", "value"]
    figures = {(metric, type_, key): value for metric, type_, key, value in rows[1:]}
    assert {
        key: figures[("open_cases_by_days_left", "all", key)]
        for key in ("overdue", "0-2", "3-7", "8-14", "15+")
    } == {"overdue": "1", "0-2": "2", "3-7": "2", "8-14": "1", "15+": "1"}
    assert figures[("overdue_now", "all", "")] == "1"
    assert figures[("completed_cases", "access", "")] == "3"
    assert figures[("median_days_to_close", "access", "")] == "10.0"
    assert figures[("p90_days_to_close", "access", "")] == "34.0"
    assert figures[("closed_on_time_percent", "access", "")] == "66.7"
    assert figures[("closed_on_time_percent", "all", "")] == "66.7"
    assert figures[("median_days_to_close", "erasure", "")] == ""
    received = [v for (m, t, _k), v in figures.items() if m == "cases_received" and t == "all"]
    assert len(received) == 12
    assert sum(int(v) for v in received) == 11
    assert figures[("cases_received", "all", today.strftime("%Y-%m"))] != "0"


def test_the_dashboard_runs_the_same_queries_for_5_cases_as_for_50(admin_client) -> None:
    url = reverse("dsar_dashboard")
    admin_client.get(url)  # the session and the user, loaded the same way each time after
    CaseFactory.create_batch(5, status=CaseStatus.IN_REVIEW)
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(url).status_code == 200
    CaseFactory.create_batch(25, status=CaseStatus.IN_PROGRESS, type=CaseType.ERASURE)
    CaseFactory.create_batch(
        20, status=CaseStatus.COMPLETED, closed_at=timezone.now(), type=CaseType.OBJECTION
    )
    with CaptureQueriesContext(connection) as many:
        assert admin_client.get(url).status_code == 200
    with CaptureQueriesContext(connection) as csv_many:
        assert admin_client.get(reverse("dsar_dashboard_csv")).status_code == 200

    assert len(few) == len(many)
    assert len(many) <= 7  # session, user, the controller for the footer, one per selector
    assert len(csv_many) <= len(many)


@pytest.fixture
def handler(client):
    user = get_user_model().objects.create_user(
        "handler", "handler@example.com", "a-long-test-password", is_staff=True
    )
    client.force_login(user)
    return user


def test_staff_without_the_view_permission_get_403(client, handler) -> None:
    assert client.get(reverse("dsar_dashboard")).status_code == 403
    assert client.get(reverse("dsar_dashboard_csv")).status_code == 403


def test_staff_who_may_view_cases_see_the_dashboard(client, handler) -> None:
    handler.user_permissions.add(Permission.objects.get(codename="view_case"))

    assert client.get(reverse("dsar_dashboard")).status_code == 200
    assert client.get(reverse("dsar_dashboard_csv")).status_code == 200


def test_people_not_logged_in_are_sent_to_the_admin_login(client) -> None:
    response = client.get(reverse("dsar_dashboard_csv"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_the_dashboard_counts_failed_systems_and_waiting_tasks_and_links_to_those_cases(
    admin_client,
) -> None:
    from dsar.models import ManualTask, RunStatus
    from tests.factories import SystemRunFactory

    failed = SystemRunFactory(status=RunStatus.FAILED, last_error="HubSpot rejected the token")
    waiting = SystemRunFactory(status=RunStatus.WAITING_MANUAL)
    ManualTask.objects.create(run=waiting, team="Finance", instructions="Search the ERP.")
    SystemRunFactory(status=RunStatus.SUCCEEDED)

    html = re.sub(r">\s+<", "><", admin_client.get(reverse("dsar_dashboard")).content.decode())

    queue = reverse("admin:dsar_case_changelist")
    assert f'<a href="{queue}?attention=failed_run">1<' in html
    assert f'<a href="{queue}?attention=manual_task">1<' in html
    behind_failed = admin_client.get(queue, {"attention": "failed_run"}).content.decode()
    assert failed.case.reference in behind_failed
    assert waiting.case.reference not in behind_failed
