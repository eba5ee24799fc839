"""The privacy team's queue in the admin: ordered by deadline, overdue marked, searchable."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from dsar.events import SUBJECT, append_event
from dsar.models import CaseStatus, RectificationChange
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
    assert "OVERDUE by 3 days" in html
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
    assert "submitted" in html

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
