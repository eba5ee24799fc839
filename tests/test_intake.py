"""Requests that arrive by email, letter or telephone: staff record them, the deadline runs from
the day they arrived, and the person's identity is confirmed as for the web form."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from dsar import transitions
from dsar.deadlines import due_date_for
from dsar.models import Case, CaseStatus

pytestmark = pytest.mark.django_db


def handler() -> Client:
    user = get_user_model().objects.create_user(
        "clerk", "clerk@example.com", "a-long-test-password", is_staff=True
    )
    user.groups.add(Group.objects.get(name="handler"))
    client = Client()
    client.force_login(user)
    return client


FORM = {
    "channel": "letter",
    "request_type": "access",
    "objection_scope": "",
    "request_text": "Please tell me what data you hold about me.",
    "name": "Karl Schmidt",
    "email": "karl.schmidt@example.de",
    "customer_number": "C-77",
    "forum_username": "",
    "language": "de",
    "identity": "link",
    "identity_proof": "",
}


def test_a_letter_is_recorded_with_its_day_of_arrival_and_the_person_confirms_by_email(
    django_capture_on_commit_callbacks,
) -> None:
    arrived = timezone.localdate() - dt.timedelta(days=5)
    scan = SimpleUploadedFile("brief.pdf", b"%PDF-1.4 letter", content_type="application/pdf")
    client = handler()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:dsar_case_record"),
            {**FORM, "received_on": arrived.isoformat(), "attachment": scan},
        )

    case = Case.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:dsar_case_change", args=[case.pk])
    assert timezone.localdate(case.received_at) == arrived
    assert case.due_date == due_date_for(case.received_at)
    assert case.status == CaseStatus.AWAITING_VERIFICATION
    assert case.details["channel"] == "letter"
    assert case.details["request_text"] == FORM["request_text"]
    submitted = case.events.get(action="submitted")
    assert submitted.actor == "staff:clerk"
    assert submitted.data["channel"] == "letter"
    [message] = mail.outbox
    assert message.to == ["karl.schmidt@example.de"]
    assert "/verify/" in message.body
    assert "Bitte bestätigen Sie" in message.subject  # in the person's language

    page = client.get(response["Location"]).content.decode()
    assert "letter" in page and FORM["request_text"] in page
    download = client.get(reverse("admin:dsar_case_attachment", args=[case.pk]))
    assert b"".join(download.streaming_content) == b"%PDF-1.4 letter"
    assert case.events.filter(action="downloaded_by_staff", data__kind="attachment").exists()


def test_an_identity_checked_by_staff_confirms_the_case_at_once(
    django_capture_on_commit_callbacks,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = handler().post(
            reverse("admin:dsar_case_record"),
            {
                **FORM,
                "channel": "in_person",
                "request_type": "objection",
                "objection_scope": "direct_marketing",
                "received_on": timezone.localdate().isoformat(),
                "identity": "checked",
                "identity_proof": "ID card shown at the front desk",
            },
        )

    assert response.status_code == 302
    case = Case.objects.get()
    assert case.verified_at is not None
    assert case.verification_method == "staff"
    assert case.details["identity_checked"] == "ID card shown at the front desk"
    assert case.status != CaseStatus.AWAITING_VERIFICATION
    actions = list(case.events.values_list("action", flat=True))
    assert actions[:2] == ["submitted", "identity_checked"]
    assert not any("/verify/" in m.body for m in mail.outbox)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"received_on": (timezone.localdate() + dt.timedelta(days=1)).isoformat()},
            "received_on",
            "cannot arrive in the future",
        ),
        ({"identity": "checked", "identity_proof": " "}, "identity_proof", "Say what you checked"),
        ({"request_type": "objection"}, "objection_scope", "Say what the person objects to"),
    ],
)
def test_an_intake_form_with_a_gap_records_nothing(changes, field, message) -> None:
    response = handler().post(
        reverse("admin:dsar_case_record"),
        {**FORM, "received_on": timezone.localdate().isoformat(), **changes},
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Case.objects.exists()


def test_only_those_who_work_cases_record_them() -> None:
    auditor = get_user_model().objects.create_user("reader", password="x" * 20, is_staff=True)
    auditor.groups.add(Group.objects.get(name="auditor"))
    client = Client()
    client.force_login(auditor)
    assert client.get(reverse("admin:dsar_case_record")).status_code == 403
    queue = client.get(reverse("admin:dsar_case_changelist")).content.decode()
    assert reverse("admin:dsar_case_record") not in queue


def test_record_request_refuses_a_request_from_the_future() -> None:
    with pytest.raises(ValueError, match="future"):
        transitions.record_request(
            channel="email",
            received_at=timezone.now() + dt.timedelta(hours=1),
            case_type="access",
            email="a@example.com",
            name="A",
            language="en",
            actor="staff:x",
        )
    assert not Case.objects.exists()
