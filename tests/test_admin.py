"""The privacy team's queue in the admin: ordered by deadline, overdue marked, searchable."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from dsar.events import SUBJECT, append_event
from dsar.models import Case, CaseStatus, RectificationChange
from tests.factories import CaseFactory, DataSystemFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_user(
        "handler", "handler@example.com", "a-long-test-password", is_staff=True, is_superuser=True
    )
    client.force_login(user)
    return client


def test_the_queue_lists_cases_by_due_date_and_marks_the_overdue(staff_client) -> None:
    today = timezone.localdate()
    later = CaseFactory(due_date=today + dt.timedelta(days=20), status=CaseStatus.VERIFIED)
    overdue = CaseFactory(due_date=today - dt.timedelta(days=3), status=CaseStatus.VERIFIED)
    soon = CaseFactory(due_date=today + dt.timedelta(days=2), status=CaseStatus.VERIFIED)

    html = staff_client.get(reverse("admin:dsar_case_changelist")).content.decode()

    positions = [html.index(case.reference) for case in (overdue, soon, later)]
    assert positions == sorted(positions)
    assert "3 days overdue" in html
    assert "2 days left" in html
    assert "20 days left" in html


def test_the_queue_filters_by_state_and_finds_by_reference_or_email(staff_client) -> None:
    wanted = CaseFactory(email="find.me@example.org", status=CaseStatus.VERIFIED)
    other = CaseFactory(status=CaseStatus.EXPIRED)
    url = reverse("admin:dsar_case_changelist")

    by_email = staff_client.get(url, {"q": "find.me@example.org"}).content.decode()
    assert wanted.reference in by_email and other.reference not in by_email
    by_reference = staff_client.get(url, {"q": other.reference}).content.decode()
    assert other.reference in by_reference and wanted.reference not in by_reference
    by_state = staff_client.get(url, {"status__exact": "expired"}).content.decode()
    assert other.reference in by_state and wanted.reference not in by_state


def test_the_case_page_shows_the_request_and_timeline_and_cannot_rewrite_them(staff_client):
    case = CaseFactory(details={"rectification_wrong": "old phone"}, type="rectification")
    with transaction.atomic():
        append_event(case, actor=SUBJECT, action="submitted")
    url = reverse("admin:dsar_case_change", args=[case.pk])

    html = staff_client.get(url).content.decode()
    assert case.reference in html
    assert "old phone" in html
    assert "Sent the request." in html  # the timeline reads as sentences, not raw JSON

    staff_client.post(url, {"status": "completed", "email": "changed@example.com"})
    case.refresh_from_db()
    assert case.status == CaseStatus.AWAITING_VERIFICATION
    assert case.email != "changed@example.com"


def test_staff_cannot_add_or_delete_cases_by_hand(staff_client) -> None:
    case = CaseFactory()
    assert staff_client.get(reverse("admin:dsar_case_add")).status_code == 403
    assert staff_client.get(reverse("admin:dsar_case_delete", args=[case.pk])).status_code == 403


def test_the_admin_is_closed_to_anyone_not_staff(client) -> None:
    response = client.get(reverse("admin:dsar_case_changelist"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_staff_decide_a_correction_field_by_field_then_approve_it_in_the_admin(
    staff_client, django_capture_on_commit_callbacks
) -> None:
    DataSystemFactory()
    case = CaseFactory(
        type="rectification",
        status=CaseStatus.IN_REVIEW,
        details={"rectification_wrong": "phone", "rectification_correct": "+49 30 1234"},
    )
    page = staff_client.get(reverse("admin:dsar_case_change", args=[case.pk])).content.decode()
    approve_url = reverse("admin:dsar_case_action", args=[case.pk, "approve"])
    assert approve_url in page
    assert "fields to correct" in page.lower()

    # Approving before any field is decided is refused with the reason, and nothing moves.
    refused = staff_client.post(approve_url, {})
    assert refused.status_code == 200
    assert "Add the fields to correct" in refused.content.decode()
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_REVIEW

    RectificationChange.objects.create(
        case=case, field="phone", proposed_value="+49 30 1234", decision="accepted"
    )
    with django_capture_on_commit_callbacks(execute=False):
        response = staff_client.post(approve_url, {})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_PROGRESS
    approved = case.events.get(action="approved")
    assert approved.actor == "staff:handler"
    assert approved.data == {"decisions": {"pending": 0, "accepted": 1, "edited": 0, "refused": 0}}


def test_an_action_that_does_not_apply_to_the_case_is_not_offered(staff_client) -> None:
    case = CaseFactory(status=CaseStatus.COMPLETED, type="access")
    page = staff_client.get(reverse("admin:dsar_case_change", args=[case.pk])).content.decode()
    approve_url = reverse("admin:dsar_case_action", args=[case.pk, "approve"])
    assert approve_url not in page
    assert staff_client.post(approve_url, {}).status_code == 404


def test_the_admin_is_called_dsar_desk_and_its_index_shows_the_work_waiting(staff_client):
    from dsar.models import RunStatus
    from tests.factories import SystemRunFactory

    SystemRunFactory(status=RunStatus.FAILED)
    CaseFactory(status=CaseStatus.IN_REVIEW)
    CaseFactory(status=CaseStatus.COMPLETED)

    html = staff_client.get(reverse("admin:index")).content.decode()

    assert "<title>The work waiting | DSAR Desk</title>" in html
    assert "Django administration" not in html
    queue = reverse("admin:dsar_case_changelist")
    assert f'href="{queue}?attention=any"><span class="work-count">2</span>' in html
    assert f'href="{queue}?attention=failed_run">A system failed</a>' in html
    assert f'href="{queue}?status__exact=in_review">In review</a>' in html
    assert f'href="{queue}?assigned=nobody&amp;open=yes"><span class="work-count">2</span>' in html


def test_the_queue_lists_open_cases_before_closed_ones_and_filters_mine_and_nobodys(
    staff_client,
) -> None:
    today = timezone.localdate()
    me = get_user_model().objects.get(username="handler")
    closed_early = CaseFactory(due_date=today - dt.timedelta(days=40), status=CaseStatus.EXPIRED)
    mine = CaseFactory(due_date=today + dt.timedelta(days=9), status=CaseStatus.IN_PROGRESS)
    mine.assignee = me
    mine.save()
    nobodys = CaseFactory(due_date=today + dt.timedelta(days=3), status=CaseStatus.IN_REVIEW)
    url = reverse("admin:dsar_case_changelist")

    html = staff_client.get(url).content.decode()
    positions = [html.index(case.reference) for case in (nobodys, mine, closed_early)]
    assert positions == sorted(positions)  # the closed case, though due first, comes last

    assigned = staff_client.get(url, {"assigned": "mine"}).content.decode()
    assert mine.reference in assigned and nobodys.reference not in assigned
    unassigned = staff_client.get(url, {"assigned": "nobody", "open": "yes"}).content.decode()
    assert nobodys.reference in unassigned
    assert mine.reference not in unassigned and closed_early.reference not in unassigned


def test_the_case_page_reads_the_request_in_words_with_its_extension_and_earlier_cases(
    staff_client,
) -> None:
    earlier = CaseFactory(
        email="pat@example.com", received_at=timezone.now() - dt.timedelta(days=200)
    )
    case = CaseFactory(
        email="pat@example.com",
        type="objection",
        status=CaseStatus.IN_REVIEW,
        details={"objection_scope": "other", "objection_reasons": "I moved abroad."},
        extension_months=2,
        extension_reason="Twelve systems to search.",
    )
    html = staff_client.get(reverse("admin:dsar_case_change", args=[case.pk])).content.decode()

    assert "Other processing" in html and "I moved abroad." in html
    assert "objection_scope" not in html and "{&quot;" not in html  # no raw JSON
    assert "by 2 months" in html and "Twelve systems to search." in html
    assert reverse("admin:dsar_case_change", args=[earlier.pk]) in html
    assert "Weigh the person&#x27;s reasons and decide on the objection." in html
    # Nothing here is edited by hand, so nothing offers to save.
    assert 'type="submit"' not in html.split('id="case_form"', 1)[1]


def test_saved_correction_decisions_show_again_and_a_second_row_for_a_field_is_refused(
    staff_client,
) -> None:
    case = CaseFactory(type="rectification", status=CaseStatus.IN_REVIEW)
    url = reverse("admin:dsar_case_change", args=[case.pk])

    def form(*rows: dict[str, str], initial: int = 0) -> dict[str, str]:
        data = {
            "changes-TOTAL_FORMS": str(len(rows)),
            "changes-INITIAL_FORMS": str(initial),
            "changes-MIN_NUM_FORMS": "0",
            "changes-MAX_NUM_FORMS": "1000",
            "_continue": "1",
        }
        for n, row in enumerate(rows):
            data.update({f"changes-{n}-{key}": value for key, value in row.items()})
        return data

    phone = {"field": "phone", "proposed_value": "+49 30 1234", "decision": "accepted"}
    saved = staff_client.post(url, form({**phone, "case": str(case.pk)}))
    assert saved.status_code == 302
    change = RectificationChange.objects.get(case=case)

    reloaded = staff_client.get(url).content.decode()
    assert f'name="changes-0-id" value="{change.pk}"' in reloaded
    assert 'value="+49 30 1234"' in reloaded

    again = staff_client.post(
        url,
        form(
            {**phone, "id": str(change.pk), "case": str(case.pk)},
            {**phone, "proposed_value": "+49 30 9999", "case": str(case.pk)},
            initial=1,
        ),
    )
    assert again.status_code == 200  # the form says why, rather than a server error
    assert "Please correct the duplicate data for field" in again.content.decode()
    assert RectificationChange.objects.filter(case=case).count() == 1


def test_cancelling_asks_how_the_person_withdrew_and_keeps_the_words_out_of_the_event(
    staff_client,
) -> None:
    case = CaseFactory(status=CaseStatus.IN_PROGRESS)
    url = reverse("admin:dsar_case_action", args=[case.pk, "cancel"])

    page = staff_client.get(url).content.decode()
    assert "How did the person withdraw the request?" in page
    assert "The person is not emailed." in page
    assert 'value="Cancel the request"' in page
    assert staff_client.post(url, {"reason": ""}).status_code == 200
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_PROGRESS

    staff_client.post(url, {"reason": "Phone call of 3 March."})
    case.refresh_from_db()
    assert case.status == CaseStatus.CANCELLED
    assert case.details["cancellation_reason"] == "Phone call of 3 March."
    assert "Phone call" not in str(case.events.get(action="cancelled").data)


@pytest.mark.parametrize(
    ("key", "status", "button", "consequence"),
    [
        ("approve", CaseStatus.IN_REVIEW, "Approve and start", "goes to every enabled system"),
        ("reject", CaseStatus.IN_REVIEW, "Reject the request", "This cannot be undone."),
        ("extend", CaseStatus.IN_PROGRESS, "Extend the deadline", "extended only once"),
        ("request-information", CaseStatus.IN_REVIEW, "Send the question", "keeps running"),
    ],
)
def test_each_decision_page_says_what_will_happen_and_what_its_button_does(
    staff_client, key, status, button, consequence
) -> None:
    case = CaseFactory(status=status)
    page = staff_client.get(reverse("admin:dsar_case_action", args=[case.pk, key]))
    html = page.content.decode()
    assert consequence in html
    assert f'value="{button}"' in html
    assert 'value="Confirm"' not in html


def test_the_manual_task_page_names_the_person_and_what_was_verified(staff_client) -> None:
    from dsar.models import ManualTask, RunStatus
    from tests.factories import SystemRunFactory

    run = SystemRunFactory(
        status=RunStatus.WAITING_MANUAL,
        case__name="Grace Hopper",
        case__email="grace.hopper@example.net",
        case__customer_number="C-1906",
        case__verified_at=timezone.now(),
    )
    task = ManualTask.objects.create(run=run, team="Finance", instructions="Search the ERP.")

    html = staff_client.get(
        reverse("admin:dsar_manualtask_change", args=[task.pk]), follow=True
    ).content
    page = html.decode()
    for shown in ("Grace Hopper", "grace.hopper@example.net", "C-1906", "confirmed by link"):
        assert shown in page
    assert page.count("Search the ERP.") == 1
    assert 'value="Complete task"' in page
    assert 'value="Save"' not in page


def test_the_admin_speaks_german_with_proper_plurals(staff_client) -> None:
    html = staff_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    for plural in ("Fälle", "Manuelle Aufgaben", "Datensysteme", "Ereignisse", "Systemdurchläufe"):
        assert f">{plural}<" in html
    for broken in ("Falls", "Aufgabes", "Datensystems", "Events", "System runs"):
        assert f">{broken}<" not in html


def test_the_case_page_shows_earlier_requests_with_what_came_of_them_and_how_long_before(
    staff_client,
) -> None:
    from dsar.models import RunStatus
    from tests.factories import SystemRunFactory, outcome_of

    # Noon in the controller's time zone: days are counted between local dates, and 400 days
    # back from late evening crosses a change of summer time into the day before.
    now = timezone.localtime().replace(hour=12, minute=0)
    answered = CaseFactory(
        email="Pat@Example.com",
        status=CaseStatus.COMPLETED,
        received_at=now - dt.timedelta(days=400),
    )
    SystemRunFactory(case=answered, status=RunStatus.SUCCEEDED, **outcome_of("export", found=True))
    SystemRunFactory(case=answered, status=RunStatus.SUCCEEDED, **outcome_of("export", found=False))
    refused = CaseFactory(
        email="pat@example.com",
        status=CaseStatus.REJECTED,
        received_at=now - dt.timedelta(days=30),
        details={"rejection_reason": "excessive", "rejection_note": "Weekly requests."},
    )
    case = CaseFactory(email="pat@example.com", received_at=now)
    later = CaseFactory(email="pat@example.com", received_at=now + dt.timedelta(days=1))

    html = staff_client.get(reverse("admin:dsar_case_change", args=[case.pk])).content.decode()
    earlier = html.split('id="earlier-heading"', 1)[1].split('id="timeline-heading"', 1)[0]

    assert "1 earlier request in the 12 months before this one." in earlier
    assert "Art. 12(5) GDPR" in earlier
    assert answered.reference in earlier and refused.reference in earlier
    assert later.reference not in earlier
    assert "400 days" in earlier and "30 days" in earlier
    assert "answered: data in 1 of 2 systems" in earlier
    assert "rejected: The request is excessive or repetitive" in earlier
    assert earlier.index(refused.reference) < earlier.index(answered.reference)  # newest first


def test_the_case_page_marks_what_was_verified_and_what_the_person_only_typed(
    staff_client,
) -> None:
    case = CaseFactory(
        status=CaseStatus.IN_PROGRESS,
        name="Grace Hopper",
        customer_number="C-1906",
        forum_username="amazing_grace",
        verified_at=timezone.now(),
    )

    html = staff_client.get(reverse("admin:dsar_case_change", args=[case.pk])).content.decode()
    summary = html.split('class="case-summary"', 1)[1].split("</section>", 1)[0]

    assert f'{case.email} <span class="identity-mark identity-mark--verified">' in summary
    assert "Email address confirmed by link." in summary
    for typed in ("Grace Hopper", "C-1906", "amazing_grace"):
        assert f'{typed} <span class="identity-mark identity-mark--unverified">' in summary
    assert summary.count("not verified: as the person typed it") == 3


@pytest.mark.parametrize(
    ("pauses", "rule"),
    [
        (False, "The deadline keeps running."),
        (True, "The deadline waits too: it moves by the days until the answer."),
    ],
)
def test_asking_for_more_information_is_offered_while_the_systems_work_and_says_the_clock_rule(
    staff_client, settings, pauses: bool, rule: str
) -> None:
    settings.DSAR = {**settings.DSAR, "INFORMATION_PAUSES_DEADLINE": pauses}
    case = CaseFactory(status=CaseStatus.IN_PROGRESS, verified_at=timezone.now())
    ask = reverse("admin:dsar_case_action", args=[case.pk, "request-information"])

    page = staff_client.get(reverse("admin:dsar_case_change", args=[case.pk])).content.decode()
    question = staff_client.get(ask).content.decode()

    assert ask in page
    assert rule in question
    assert ("the deadline waits too" if pauses else "the deadline keeps running") in page
    unconfirmed = CaseFactory(status=CaseStatus.AWAITING_VERIFICATION)
    refused = staff_client.get(
        reverse("admin:dsar_case_action", args=[unconfirmed.pk, "request-information"])
    )
    assert refused.status_code == 404


def test_no_data_held_is_no_reason_to_reject(staff_client) -> None:
    case = CaseFactory(status=CaseStatus.IN_REVIEW)
    page = staff_client.get(reverse("admin:dsar_case_action", args=[case.pk, "reject"]))
    html = page.content.decode()
    assert "manifestly_unfounded" in html
    assert "no_data_held" not in html and "We hold no personal data about you" not in html


def test_the_objection_decision_offers_only_processing_a_person_may_object_to(
    staff_client,
) -> None:
    from dsar.models import LegalBasis, ProcessingActivity

    forum = DataSystemFactory(key="forum", name="Forum")
    for key, basis in (
        ("forum-moderation", LegalBasis.LEGITIMATE_INTERESTS),
        ("newsletter", LegalBasis.CONSENT),
    ):
        activity = ProcessingActivity.objects.create(
            key=key, name=key.title(), purposes="-", data_categories="-", legal_basis=basis
        )
        activity.systems.add(forum)
    case = CaseFactory(
        type="objection", status=CaseStatus.IN_REVIEW, details={"objection_scope": "other"}
    )
    url = reverse("admin:dsar_case_action", args=[case.pk, "decide-objection"])

    html = staff_client.get(url).content.decode()
    refused = staff_client.post(
        url, {"upheld": "yes", "grounds": "-", "activities": ["newsletter"]}
    )

    assert 'value="forum-moderation"' in html and 'value="newsletter"' not in html
    assert "Forum-Moderation (Legitimate interests (Art. 6(1)(f)); Forum)" in html
    assert refused.status_code == 200  # the form says the choice is not available
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_REVIEW


def test_every_model_in_the_german_admin_has_its_own_plural_name() -> None:
    """Django's default plural appends an "s" to the German singular ("Empfängers")."""
    from django.contrib import admin
    from django.utils import translation

    for model in admin.site._registry:
        if model._meta.app_label != "dsar":
            continue
        assert "verbose_name_plural" in model._meta.original_attrs, model.__name__
    from dsar.models import Recipient, RetentionRule

    with translation.override("de"):
        assert str(Recipient._meta.verbose_name_plural) == "Empfänger"
        assert str(RetentionRule._meta.verbose_name_plural) == "gesetzliche Aufbewahrungsfristen"


def found(admin_client, term: str) -> set[str]:
    response = admin_client.get(reverse("admin:dsar_case_changelist"), {"q": term})
    assert response.status_code == 200
    return {case.email for case in response.context["cl"].result_list}


def test_search_finds_a_whole_email_address_in_any_case_and_part_of_one_by_its_part(
    admin_client,
) -> None:
    for email in ("Ada.Lovelace@Example.com", "grace.ada.lovelace@example.com", "bob@example.org"):
        CaseFactory(email=email)

    assert found(admin_client, "ada.lovelace@example.com") == {"Ada.Lovelace@Example.com"}
    assert found(admin_client, " ADA.LOVELACE@EXAMPLE.COM ") == {"Ada.Lovelace@Example.com"}
    assert found(admin_client, "lovelace") == {
        "Ada.Lovelace@Example.com",
        "grace.ada.lovelace@example.com",
    }
    assert found(admin_client, "example.org") == {"bob@example.org"}


def plan(sql: str, params: tuple) -> str:
    """PostgreSQL's plan for the query, with sequential scans made as dear as possible, so
    that an index that fits the query is the one chosen."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's indexes")
def test_the_queues_order_and_the_searches_are_read_from_indexes(rf, admin_user) -> None:
    CaseFactory.create_batch(3)
    case_admin = admin.site._registry[Case]
    request = rf.get("/")
    request.user = admin_user
    queue = Case.objects.order_by(*case_admin.get_ordering(request))[:50]
    exact, _ = case_admin.get_search_results(request, Case.objects.all(), "a@example.com")
    partial, _ = case_admin.get_search_results(request, Case.objects.all(), "lovelace")

    assert "case_queue_order" in plan(*queue.query.sql_with_params())
    assert "case_email_upper" in plan(*exact.query.sql_with_params())
    partial_plan = plan(*partial.query.sql_with_params())
    assert all(f"case_{column}_trgm" in partial_plan for column in ("email", "name", "reference"))
