"""The privacy team's side in headless Chromium at 1280 px, in English and German: the queue,
the case page, a failed system, the review of a correction and a manual task, each checked
with axe-core and for columns and buttons that leave the screen or overlap."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from playwright.sync_api import expect

from connectors.demo_people import ADA
from dsar import transitions
from dsar.models import (
    Case,
    CaseStatus,
    ManualTask,
    ManualTaskStatus,
    OutcomeKind,
    RunStatus,
)
from dsar.tokens import issue_verification
from tests.conftest import Sandboxes, assert_accessible
from tests.factories import CaseFactory, DataSystemFactory
from tests.layout import (
    assert_apart,
    assert_no_sideways_scrolling,
    assert_within_width,
    box,
    boxes,
    screenshot,
)
from tests.scenes import PASSWORD, Scene, busy_queue, use_sandbox_secrets

pytestmark = [pytest.mark.browser]

LOCALES = {"en": "en-GB", "de": "de-DE"}
WIDE = {"width": 1280, "height": 900}


@pytest.fixture
def scene(
    demo_systems: dict[str, Any], sandboxes: Sandboxes, monkeypatch: pytest.MonkeyPatch
) -> Scene:
    use_sandbox_secrets(monkeypatch, sandboxes)
    return busy_queue(demo_systems)


def open_as(chromium: Any, live_server: Any, user: Any, language: str = "en") -> Any:
    """A browser page at 1280 px, logged in as ``user``, speaking ``language``."""
    client = Client()
    client.force_login(user)
    context = chromium.new_context(viewport=WIDE, locale=LOCALES[language])
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


@pytest.fixture
def browsers(chromium: Any) -> Iterator[list[Any]]:
    """The pages a test opens, closed after it."""
    opened: list[Any] = []
    yield opened
    for page in opened:
        page.context.close()


QUEUE_COLUMNS = ["case", "type", "state", "needs_attention", "assigned_to", "due"]


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_queue_at_1280px_shows_due_date_days_left_and_why_a_case_needs_attention(
    scene: Scene, chromium: Any, live_server: Any, browsers: list[Any], language: str
) -> None:
    page = open_as(chromium, live_server, scene.me, language)
    browsers.append(page)
    page.goto(live_server.url + reverse("admin:dsar_case_changelist"))
    screenshot(page, f"queue-1280-{language}")

    headers = [box(page.locator(f"#result_list th.column-{c}"), c) for c in QUEUE_COLUMNS]
    headers.append(box(page.locator("#result_list th.column-deadline"), "deadline"))
    assert_within_width(page, headers)
    assert_apart(headers)
    filters = box(page.locator("#changelist-filter"), "filters")
    assert_apart([*headers, filters])
    assert_no_sideways_scrolling(page)

    rows = page.locator("#result_list tbody tr")
    assert rows.count() == len(scene.cases)
    # Open cases first, by due date; the closed ones after them.
    references = rows.locator(".case-reference").all_inner_texts()
    open_refs = [c.reference for c in sorted(scene.cases, key=lambda c: c.due_date) if c.is_open]
    assert references[: len(open_refs)] == open_refs
    for n in range(rows.count()):
        row = rows.nth(n)
        cells = [
            box(row.locator("td.field-due"), f"due date of row {n + 1}"),
            box(row.locator("td.field-deadline"), f"days left of row {n + 1}"),
            box(row.locator("td.field-needs_attention"), f"flags of row {n + 1}"),
        ]
        assert_within_width(page, cells)
        assert_apart(cells)
        expect(row.locator("td.field-due time")).to_be_visible()

    failed = rows.filter(has_text=scene.failed.reference)
    flag = {"en": "A system failed", "de": "System fehlgeschlagen"}[language]
    expect(failed.locator(".flag--failed_run")).to_have_text(flag)
    expect(failed.locator(".flag--overdue")).to_be_visible()
    expect(failed.locator("td.field-due time")).to_have_attribute(
        "datetime", scene.failed.due_date.isoformat()
    )
    days = {"en": re.compile(r"\d+ days overdue"), "de": re.compile(r"\d+ Tage überfällig")}
    expect(failed.locator("td.field-deadline")).to_have_text(days[language])
    review = rows.filter(has_text=scene.review.reference)
    expect(review.locator(".flag--review")).to_be_visible()
    expect(rows.filter(has_text=scene.answered.reference).locator(".flag--answer_received"))
    expect(rows.filter(has_text=scene.manual.reference).locator(".flag--manual_task"))
    expect(failed.locator("td.field-assigned_to")).to_have_text("privacy")

    assert_accessible(page)

    # Mine, and needs attention, are one click away.
    mine = {"en": "My open cases", "de": "Meine offenen Fälle"}[language]
    page.get_by_role("link", name=mine).click()
    expect(page.get_by_role("link", name=mine)).to_have_attribute("aria-current", "page")
    mine_refs = set(page.locator("#result_list .case-reference").all_inner_texts())
    assert mine_refs == {scene.failed.reference, scene.manual.reference}


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_case_page_at_1280px_leads_with_a_summary_and_keeps_its_actions_off_the_content(
    scene: Scene, chromium: Any, live_server: Any, browsers: list[Any], language: str
) -> None:
    page = open_as(chromium, live_server, scene.me, language)
    browsers.append(page)
    page.goto(live_server.url + reverse("admin:dsar_case_change", args=[scene.failed.pk]))
    screenshot(page, f"case-1280-{language}")

    actions = boxes(page.locator(".case-actions a"), "action")
    assert len(actions) >= 4
    title = box(page.locator("#content h1"), "title")
    summary = box(page.locator(".case-summary"), "summary")
    assert_within_width(page, [*actions, title, summary])
    assert_apart([*actions, title, summary])
    assert_no_sideways_scrolling(page)

    # The work comes in the order it is done: summary, systems, tasks, request, timeline.
    sections = ["summary", "systems", "tasks", "request", "timeline"]
    tops = [box(page.locator(f"#{name}-heading"), name).y for name in sections]
    assert tops == sorted(tops)
    assert tops[1] < 900, "the systems start on the first screen"
    expect(page.locator(".next-step")).to_contain_text(
        {"en": "HubSpot CRM", "de": "HubSpot CRM"}[language]
    )
    hubspot = page.locator("tr.run--failed")
    expect(hubspot).to_contain_text("WRONG_HUBSPOT_TOKEN")
    retry = {"en": "Retry", "de": "Erneut versuchen"}[language]
    retry_button = box(hubspot.get_by_role("link", name=re.compile(retry)), "retry")
    systems_table = box(page.locator("table.case-table").first, "systems table")
    assert_within_width(page, [retry_button, systems_table])
    assert systems_table.x <= retry_button.x and retry_button.right <= systems_table.right
    # No raw JSON: the timeline reads as sentences.
    timeline = page.locator("table.timeline").inner_text()
    assert "{" not in timeline
    started = {"en": "Started work in", "de": "Hat die Arbeit in"}[language]
    assert started in timeline
    # Nothing on this page can be edited, so nothing offers to save.
    expect(page.locator("input[type=submit]")).to_have_count(0)

    assert_accessible(page)


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_other_staff_pages_pass_axe_and_fit_1280px(
    scene: Scene, chromium: Any, live_server: Any, browsers: list[Any], language: str
) -> None:
    page = open_as(chromium, live_server, scene.me, language)
    browsers.append(page)
    task = ManualTask.objects.filter(run__case=scene.manual, status=ManualTaskStatus.OPEN).first()
    assert task is not None
    failed_run = scene.failed.runs.get(status=RunStatus.FAILED)
    pages = {
        "index": reverse("admin:index"),
        "review": reverse("admin:dsar_case_change", args=[scene.review.pk]),
        "answered": reverse("admin:dsar_case_change", args=[scene.answered.pk]),
        "action-reject": reverse("admin:dsar_case_action", args=[scene.review.pk, "reject"]),
        "action-cancel": reverse("admin:dsar_case_action", args=[scene.failed.pk, "cancel"]),
        "intake": reverse("admin:dsar_case_record"),
        "task": reverse("admin:dsar_manualtask_change", args=[task.pk]),
        "retry": reverse("admin:dsar_systemrun_retry", args=[failed_run.pk]),
        "dashboard": reverse("dsar_dashboard"),
    }
    for name, path in pages.items():
        page.goto(live_server.url + path)
        screenshot(page, f"{name}-1280-{language}")
        assert_no_sideways_scrolling(page, name)
        assert_accessible(page)


def test_a_failed_system_puts_its_case_under_needs_attention(
    demo_systems_automated: dict[str, Any],
    sandboxes: Sandboxes,
    monkeypatch: pytest.MonkeyPatch,
    chromium: Any,
    live_server: Any,
    browsers: list[Any],
) -> None:
    use_sandbox_secrets(monkeypatch, sandboxes)
    hubspot = demo_systems_automated["hubspot"]
    hubspot.config = {**hubspot.config, "token_env": "WRONG_HUBSPOT_TOKEN"}
    hubspot.save()
    case = transitions.submit_case(
        case_type="access", email=ADA.email, name=ADA.name, language="en"
    )
    case = transitions.verify_case(token=issue_verification(case))
    run = case.runs.get(system=hubspot)
    assert run.status == RunStatus.FAILED
    assert case.status == CaseStatus.IN_PROGRESS  # the state alone would not tell anyone
    healthy = CaseFactory(status=CaseStatus.IN_PROGRESS)
    staff = get_user_model().objects.create_user(
        "handler", password=PASSWORD, is_staff=True, is_superuser=True
    )
    page = open_as(chromium, live_server, staff)
    browsers.append(page)

    page.goto(live_server.url + reverse("admin:index"))
    page.get_by_role("link", name=re.compile("need attention")).click()
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(case.reference)
    expect(rows.first.locator(".flag--failed_run")).to_have_text("A system failed")
    assert healthy.reference not in page.locator("#result_list").inner_text()

    rows.first.get_by_role("link", name=re.compile(case.reference)).click()
    expect(page.locator(".next-step")).to_contain_text("Fix what made HubSpot CRM fail")
    expect(page.locator("tr.run--failed")).to_contain_text("WRONG_HUBSPOT_TOKEN")


def test_staff_save_a_correction_review_reload_it_and_approve_it(
    transactional_db: None, chromium: Any, live_server: Any, browsers: list[Any]
) -> None:
    DataSystemFactory(key="business-cards", name="Business cards")
    case = CaseFactory(
        type="rectification",
        status=CaseStatus.IN_REVIEW,
        details={"rectification_wrong": "my phone", "rectification_correct": "+49 30 1234"},
    )
    approver = get_user_model().objects.create_user("approver", password=PASSWORD, is_staff=True)
    from django.contrib.auth.models import Group

    approver.groups.add(Group.objects.get(name="approver"))
    page = open_as(chromium, live_server, approver)
    browsers.append(page)
    url = live_server.url + reverse("admin:dsar_case_change", args=[case.pk])
    page.goto(url)

    row = page.locator("#changes-group tbody tr.form-row").first
    row.locator("select[name$='-field']").select_option("phone")
    row.locator("input[name$='-proposed_value']").fill("+49 30 1234")
    row.locator("select[name$='-decision']").select_option("accepted")
    page.get_by_role("button", name="Save the decisions").click()
    expect(page.locator(".messagelist")).to_contain_text("The decisions are saved.")

    page.reload()
    saved = page.locator("#changes-group tbody tr.has_original")
    expect(saved).to_have_count(1)
    expect(saved.locator("select[name$='-field']")).to_have_value("phone")
    expect(saved.locator("input[name$='-proposed_value']")).to_have_value("+49 30 1234")
    expect(saved.locator("select[name$='-decision']")).to_have_value("accepted")
    # Saving again, unchanged, is harmless: no duplicate, no error.
    page.get_by_role("button", name="Save the decisions").click()
    expect(page.locator(".messagelist")).to_be_visible()
    expect(page.locator(".errornote")).to_have_count(0)
    assert case.changes.count() == 1

    page.get_by_role("link", name="Approve and run in every system").click()
    expect(page.locator(".consequence")).to_contain_text("goes to every enabled system")
    page.get_by_role("button", name="Approve and start").click()
    expect(page.locator(".messagelist")).to_contain_text("done")
    case.refresh_from_db()
    assert case.status == CaseStatus.AWAITING_MANUAL
    assert case.events.get(action="approved").data["decisions"]["accepted"] == 1


def test_a_manual_task_is_completed_from_its_page(
    transactional_db: None, chromium: Any, live_server: Any, browsers: list[Any]
) -> None:
    DataSystemFactory(
        key="accounting",
        name="Accounting and invoices",
        config={"team": "Finance", "instructions": {"export": "Search the ERP for the person."}},
    )
    case = CaseFactory(
        status=CaseStatus.AWAITING_VERIFICATION,
        name="Grace Hopper",
        email="grace.hopper@example.net",
        customer_number="C-1906",
    )
    case = transitions.verify_case(token=issue_verification(case))
    task = ManualTask.objects.get(run__case=case)
    handler = get_user_model().objects.create_user("handler", password=PASSWORD, is_staff=True)
    from django.contrib.auth.models import Group

    handler.groups.add(Group.objects.get(name="handler"))
    page = open_as(chromium, live_server, handler)
    browsers.append(page)

    page.goto(live_server.url + reverse("admin:dsar_case_change", args=[case.pk]))
    page.get_by_role("link", name=re.compile("Open the task")).click()
    # An open task opens on its completion form.
    expect(page).to_have_url(re.compile(reverse("admin:dsar_manualtask_complete", args=[task.pk])))
    person = page.get_by_role("region", name="Whom to look for")
    expect(person).to_contain_text("Grace Hopper")
    expect(person).to_contain_text("grace.hopper@example.net")
    expect(person).to_contain_text("C-1906")
    expect(person).to_contain_text("confirmed by link")
    expect(page.get_by_text("Search the ERP for the person.")).to_have_count(1)
    assert_accessible(page)

    results = page.get_by_role("group", name="What did you find or do?")
    results.get_by_label(re.compile("Found data about the person")).check()
    page.get_by_label("Categories of data found").fill("customer record\ninvoices")
    page.get_by_label("Internal note (never shown to the person)").fill(
        "One customer record, 3 invoices."
    )
    page.get_by_role("button", name="Complete task").click()

    expect(page.locator(".messagelist")).to_contain_text("The task is done")
    expect(page).to_have_url(re.compile(reverse("admin:dsar_case_change", args=[case.pk])))
    task.refresh_from_db()
    assert task.status == ManualTaskStatus.DONE
    assert task.completed_by == handler
    assert task.result == OutcomeKind.EXPORTED
    assert task.category_list == ["customer record", "invoices"]
    assert task.internal_note == "One customer record, 3 invoices."
    assert Case.objects.get(pk=case.pk).status == CaseStatus.COMPLETED
